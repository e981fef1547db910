"""Ferry: carry packages and models across the air gap."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ferry")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
