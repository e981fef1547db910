"""Progress shown while a command works."""

from __future__ import annotations

from typing import Any

from rich.console import Console

__all__ = ["PhaseBars"]


class PhaseBars:
    """Rich bars on a terminal, one per phase of a long command (``checking NAME``,
    ``storing NAME``); nothing otherwise. Called as ``(phase, done, total)``."""

    def __init__(self, name: str, show: bool, console: Console) -> None:
        self._name = name
        self._show = show
        self._console = console
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> PhaseBars:
        if self._show:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.__enter__()
        return self

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if self._progress is None:
            return
        task = self._tasks.get(phase)
        if task is None:
            label = f"{phase} {self._name}"
            task = self._tasks[phase] = self._progress.add_task(label, total=total)
        self._progress.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
