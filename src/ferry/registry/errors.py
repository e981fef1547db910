"""What an import refuses with."""

from __future__ import annotations

from ferry.errors import ExitCode, FerryError, Hint

__all__ = ["ImportRejected"]


class ImportRejected(FerryError):
    """The bundle is refused whole: nothing of it becomes visible. ``reason`` names the
    member, field or package and what is wrong with it."""

    code = "import-rejected"
    exit_code = ExitCode.INTEGRITY
    http_status = 422

    def __init__(self, bundle: str, reason: str) -> None:
        super().__init__(params={"bundle": bundle, "reason": reason}, hint=Hint("import-whole"))
