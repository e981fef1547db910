"""The User-Agent every request of Ferry's carries."""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version

__all__ = ["user_agent"]


@functools.cache
def user_agent() -> str:
    try:
        ver = version("ferry")
    except PackageNotFoundError:
        ver = "0"
    return f"ferry/{ver}"
