"""A problem found while resolving, in any ecosystem: shown, never hidden."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ferry.texts import Params, clean, problem_text

# error: the bundle would not install; warning: it installs, but look (exit code 3);
# info: worth listing, nothing to fix (e.g. optional packages for other platforms left out).
Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Problem:
    """Something the user must see. ``kind`` is a stable code; ``chain`` who asked for it;
    ``params`` what ``message`` was made of (:mod:`ferry.texts`), so that a reader in
    another language can be told the same."""

    severity: Severity
    kind: str
    message: str
    package: str | None = None
    target: str | None = None
    chain: tuple[str, ...] = ()
    params: Params = field(default_factory=dict, hash=False)

    @classmethod
    def of(
        cls,
        severity: Severity,
        kind: str,
        params: Mapping[str, object | None],
        *,
        package: str | None = None,
        target: str | None = None,
        chain: tuple[str, ...] = (),
    ) -> Problem:
        """The problem ``kind`` with its message made from its template in
        :data:`ferry.texts.PROBLEMS`; a parameter given as None is left out."""
        sent = clean(params)
        return cls(severity, kind, problem_text(kind, sent), package, target, chain, sent)

    def to_dict(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "kind": self.kind,
            "message": self.message,
            "package": self.package,
            "target": self.target,
            "chain": list(self.chain),
            "params": dict(self.params),
        }
