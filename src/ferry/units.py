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


_POWERS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4}


def parse_size(text: str) -> int:
    """``"20G"`` → 20,000,000,000 bytes: decimal, as Ferry prints sizes, so a cap of 20G
    shows as 20.0 GB; ``20GiB`` (K/M/G/T followed by ``iB``) means powers of 1024."""
    value = text.strip().upper()
    base = 1000
    if value.endswith("IB"):
        base, value = 1024, value[:-2]
    else:
        value = value.removesuffix("B")
    unit = value[-1:] if value[-1:] in _POWERS and value[-1:] else ""
    number = value[: -len(unit)] if unit else value
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(
            f"not a size: {text!r} (a number of bytes, optionally with K, M, G or T)"
        ) from None
    if amount < 0:
        raise ValueError(f"a size cannot be negative: {text!r}")
    return int(amount * base ** _POWERS[unit])
