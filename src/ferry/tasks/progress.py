"""A task's download counts per ecosystem, kept in memory and read by the API.

Every ecosystem the analysis found has its row from the moment the download starts,
"waiting" with the analysis's numbers until the engine starts on it; files already in
the store count as done (and as ``cached``), so that the share done is the share of the
bundle that is in place, not the share of what happened to need the network.
"""

from __future__ import annotations

from typing import Any, Literal

from ferry.errors import FerryError
from ferry.fetch.progress import ProgressListener

RowState = Literal["waiting", "fetching", "done"]

# the dependencies document's sections, by the ecosystem name progress uses
_SECTIONS = {"pypi": ("python", "file_count"), "npm": ("npm", "count")}


def planned(dependencies: dict[str, Any] | None) -> dict[str, tuple[int, int]]:
    """What the analysis says each ecosystem will fetch: ``{eco: (files, bytes)}``."""
    out: dict[str, tuple[int, int]] = {}
    for eco, (section, count_key) in _SECTIONS.items():
        doc = (dependencies or {}).get(section)
        if not isinstance(doc, dict):
            continue
        files, nbytes = doc.get(count_key), doc.get("total_bytes")
        out[eco] = (
            files if isinstance(files, int) else 0,
            nbytes if isinstance(nbytes, int) else 0,
        )
    return out


def _row(state: RowState = "fetching", files: int = 0, nbytes: int = 0) -> dict[str, Any]:
    return {
        "state": state,
        "total": files,
        "completed": 0,
        "cached": 0,
        "failed": 0,
        "failed_packages": [],
        "bytes_done": 0,
        "bytes_total": nbytes,
    }


class TaskProgress(ProgressListener):
    """Live counts for one task, per ecosystem (``ecosystem`` says which one is fetching)."""

    def __init__(self) -> None:
        self.ecosystem = "pypi"
        self.state: dict[str, dict[str, Any]] = {}

    def plan(self, expected: dict[str, tuple[int, int]]) -> None:
        """A "waiting" row per ecosystem, with the analysis's totals, before any byte."""
        for eco, (files, nbytes) in expected.items():
            self.state.setdefault(eco, _row("waiting", files, nbytes))

    def _eco(self) -> dict[str, Any]:
        return self.state.setdefault(self.ecosystem, _row())

    def start(self, total_files: int, total_bytes: int) -> None:
        eco = self._eco()
        if eco["state"] == "waiting":
            # the engine's own count replaces the estimate (a file shared by two targets
            # is fetched once); its byte total only when it knows sizes (a registry that
            # gives none leaves the analysis's the better guess)
            eco.update(total=0, bytes_total=eco["bytes_total"] if not total_bytes else 0)
        eco["state"] = "fetching"
        eco["total"] += total_files
        eco["bytes_total"] += total_bytes

    def advance(self, name: str, nbytes: int) -> None:
        self._eco()["bytes_done"] += nbytes

    def file_done(self, name: str, *, from_cache: bool, nbytes: int = 0) -> None:
        eco = self._eco()
        eco["completed"] += 1
        if from_cache:
            eco["cached"] += 1
            eco["bytes_done"] += nbytes

    def file_failed(self, name: str, error: FerryError) -> None:
        eco = self._eco()
        eco["failed"] += 1
        # the code and params too, so the page can say why in the reader's language
        eco["failed_packages"].append(
            {"name": name, "error": error.message, "code": error.code, "params": dict(error.params)}
        )

    def finish(self) -> None:
        eco = self.state.get(self.ecosystem)
        if eco is not None and eco["state"] == "fetching":
            eco["state"] = "done"
            # what arrived is the true size once an estimate fell short
            eco["bytes_total"] = max(eco["bytes_total"], eco["bytes_done"])
