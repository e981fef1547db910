"""Ferry: carry packages and models across the air gap."""

__version__ = "0.1.0"
