"""The User-Agent every request of Ferry's carries."""

from __future__ import annotations

from ferry import __version__

__all__ = ["user_agent"]


def user_agent() -> str:
    return f"ferry/{__version__}"
