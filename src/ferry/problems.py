"""A problem found while resolving, in any ecosystem: shown, never hidden."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# error: the bundle would not install; warning: it installs, but look (exit code 3);
# info: worth listing, nothing to fix (e.g. optional packages for other platforms left out).
Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Problem:
    """Something the user must see. ``kind`` is a stable code; ``chain`` who asked for it."""

    severity: Severity
    kind: str
    message: str
    package: str | None = None
    target: str | None = None
    chain: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "message": self.message,
            "package": self.package,
            "target": self.target,
            "chain": list(self.chain),
        }
