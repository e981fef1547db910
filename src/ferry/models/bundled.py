"""Models in bundles: ``ferry bundle --model org/name[@revision]`` carries a version's
files, and ``ferry import`` makes it a version of the far side's catalog.

In the bundle a file lies at ``models/<kind>/<id>/<version>/<path>``; manifest.json lists
it with ``ecosystem`` (``model`` or ``dataset``), ``model``, ``version``, ``file`` (its path
in the version), size and sha256, and a ``models`` section says each version's name,
task and languages. The far side trusts none of it: the member's name must be exactly
what those fields make, the path must be a path an upload could have, and the bytes must
have the sha256 listed (checked like every member).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferry.db.catalog import ModelRecord, VersionRecord
from ferry.models.names import ModelNameError, check_model_id, check_path, check_version
from ferry.registry.errors import ImportRejected

__all__ = [
    "MODELS_DIR",
    "BundledModel",
    "ModelPart",
    "bundled_models",
    "member_path",
    "model_records",
    "parse_spec",
]

MODELS_DIR = "models"
KINDS = ("model", "dataset")


def parse_spec(spec: str, kind: str) -> tuple[str, str, str]:
    """``org/name[@revision]`` → (kind, id, revision; ``main`` when none)."""
    repo, _, revision = spec.partition("@")
    check_model_id(repo)
    return kind, repo, revision or "main"


def member_path(kind: str, repo: str, version: str, path: str) -> str:
    return f"{MODELS_DIR}/{kind}/{repo}/{version}/{path}"


@dataclass(frozen=True)
class ModelPart:
    """A version to carry: its record, and where each file's bytes are (by sha256)."""

    model: ModelRecord
    version: VersionRecord
    sources: dict[str, Path] = field(default_factory=dict)


def model_records(part: ModelPart) -> list[dict[str, object]]:
    m, v = part.model, part.version
    return [
        {
            "path": member_path(m.kind, m.model_id, v.version, f.path),
            "size": f.size,
            "sha256": f.sha256,
            "ecosystem": m.kind,
            "model": m.model_id,
            "version": v.version,
            "file": f.path,
        }
        for f in v.files
    ]


def model_section(part: ModelPart) -> dict[str, object]:
    m, v = part.model, part.version
    return {
        "kind": m.kind,
        "id": m.model_id,
        "version": v.version,
        "name": m.name,
        "task": m.task,
        "languages": list(m.languages),
        "files": len(v.files),
        "size": v.size,
    }


@dataclass(frozen=True)
class BundledModel:
    """A version a bundle carries, checked: the files by their path in the version."""

    kind: str
    repo: str
    version: str
    name: str | None
    task: str | None
    languages: tuple[str, ...]
    files: dict[str, tuple[str, int]]  # path → (sha256, size)


def bundled_models(
    bundle: str, manifest: dict[str, Any], records: list[dict[str, Any]]
) -> list[BundledModel]:
    """The model versions of a bundle's manifest, every name checked against its member
    path; :class:`ImportRejected` naming what does not hold."""
    sections = manifest.get("models") or []
    if not isinstance(sections, list):
        raise ImportRejected(bundle, "manifest.json's models is not a list")
    found: dict[tuple[str, str, str], BundledModel] = {}
    for s in sections:
        if not isinstance(s, dict):
            raise ImportRejected(bundle, "manifest.json's models holds a non-object")
        kind, repo, version = s.get("kind"), s.get("id"), s.get("version")
        if kind not in KINDS or not isinstance(repo, str) or not isinstance(version, str):
            raise ImportRejected(bundle, "a models entry without kind, id and version")
        try:
            check_model_id(repo)
            check_version(version)
        except ModelNameError as exc:
            raise ImportRejected(bundle, exc.message) from None
        languages = s.get("languages") or []
        found[(kind, repo, version)] = BundledModel(
            kind,
            repo,
            version,
            s.get("name") if isinstance(s.get("name"), str) else None,
            s.get("task") if isinstance(s.get("task"), str) else None,
            tuple(str(x) for x in languages) if isinstance(languages, list) else (),
            {},
        )
    for r in records:
        key = (r.get("ecosystem"), r.get("model"), r.get("version"))
        model = found.get(key)  # type: ignore[arg-type]
        if model is None:
            raise ImportRejected(bundle, f"{r.get('path')} belongs to no model the manifest lists")
        file = r.get("file")
        if not isinstance(file, str):
            raise ImportRejected(bundle, f"{r.get('path')} does not say its path in the model")
        try:
            check_path(file)
        except ModelNameError as exc:
            raise ImportRejected(bundle, exc.message) from None
        if r.get("path") != member_path(model.kind, model.repo, model.version, file):
            raise ImportRejected(bundle, f"{r.get('path')} is not where {model.repo}'s {file} lies")
        model.files[file] = (str(r["sha256"]), int(r["size"]))
    empty = [m.repo for m in found.values() if not m.files]
    if empty:
        raise ImportRejected(bundle, f"models without files: {', '.join(empty)}")
    return list(found.values())
