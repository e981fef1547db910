"""The node agent's ``manifest_cache.json``: the catalog documents it asked the server for,
kept for a while (seed 004: a TTL, so a fleet of nodes does not ask on every start).

A document younger than the TTL answers without the server. An older one is asked for
again; when the server cannot be reached, the last document still names the versions and
files, so a node restarting during an outage still knows its default version.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ferry.agent.state import flocked, write_json_atomic

__all__ = ["ManifestCache"]

DEFAULT_TTL = 300.0


class ManifestCache:
    def __init__(self, root: Path, ttl: float = DEFAULT_TTL) -> None:
        self.root = root
        self.ttl = ttl
        self.path = root / "manifest_cache.json"
        self._lock = root / ".manifest_cache.lock"

    def _read(self) -> dict[str, Any]:
        try:
            doc = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        models = doc.get("models") if isinstance(doc, dict) else None
        return models if isinstance(models, dict) else {}

    def get(self, model_id: str, *, max_age: float | None = None) -> dict[str, Any] | None:
        """The cached document, if one is younger than ``max_age`` (the TTL by default)."""
        entry = self._read().get(model_id)
        if not isinstance(entry, dict) or not isinstance(entry.get("doc"), dict):
            return None
        age = time.time() - float(entry.get("fetched_at", 0))
        limit = self.ttl if max_age is None else max_age
        return entry["doc"] if 0 <= age <= limit else None

    def put(self, model_id: str, doc: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with flocked(self._lock):
            models = self._read()
            models[model_id] = {"fetched_at": time.time(), "doc": doc}
            write_json_atomic(self.path, {"version": 1, "models": models})
