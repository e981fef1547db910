"""What an import refuses with."""

from __future__ import annotations

from ferry.errors import ExitCode, FerryError, Hint

__all__ = ["ImportRejected", "why"]


class ImportRejected(FerryError):
    """The bundle is refused whole: nothing of it becomes visible. ``reason`` names the
    member, field or package and what is wrong with it."""

    code = "import-rejected"
    exit_code = ExitCode.INTEGRITY
    http_status = 422

    def __init__(self, bundle: str, reason: str) -> None:
        super().__init__(params={"bundle": bundle, "reason": reason}, hint=Hint("import-whole"))


def why(exc: BaseException) -> str:
    """What a library said about a member it could not read, fit for the stranger who sent
    the bundle: never the server's own paths (an OSError names its file) nor the bundle's
    bytes (gzip quotes the ones it did not expect)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    if not text or "/" in text or "b'" in text or 'b"' in text:
        return type(exc).__name__
    return text
