"""One way to print a size, everywhere Ferry prints one (trees, summaries, progress):
decimal units (1 kB = 1000 B), as pip, npm and the progress bars (rich) print them, so one
run never shows the same file as 13.2 MB and then 12.6 MB."""

from __future__ import annotations

_UNITS = ("kB", "MB", "GB", "TB")


def human_bytes(n: int | float | None) -> str:
    if n is None:
        return "?"
    if n < 1000:
        return f"{n:.0f} B"
    size = float(n)
    for unit in _UNITS:
        size /= 1000
        if size < 1000 or unit == _UNITS[-1]:
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")
