"""Where an analysis is, per ecosystem: so that a user watches "metadata 140 of 312"
rather than a spinner. The resolvers call a :data:`Stages` callback; the service turns
it into ``analysis`` events, the CLI ignores it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

Stage = Literal["resolving", "metadata", "build-environments", "checks", "done"]


class Stages(Protocol):
    def __call__(
        self, ecosystem: str, stage: Stage, current: int | None = None, total: int | None = None
    ) -> None: ...


def no_stages(
    ecosystem: str, stage: Stage, current: int | None = None, total: int | None = None
) -> None:
    """What a resolver reports to when nobody watches."""


def counter(stages: Stages, ecosystem: str, stage: Stage, total: int) -> Callable[[], None]:
    """Report ``stage`` at 0 of ``total`` now; the returned function counts one more done."""
    done = 0
    stages(ecosystem, stage, 0, total)

    def tick() -> None:
        nonlocal done
        done += 1
        stages(ecosystem, stage, done, total)

    return tick
