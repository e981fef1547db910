"""The model versions ``ferry bundle --model`` carries, found in this side's catalog or
pulled into it first (:mod:`ferry.models.pull`), with a local file for every blob."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ferry.errors import UsageError
from ferry.models.bundled import ModelPart
from ferry.models.pull import pull_model
from ferry.settings import Settings
from ferry.store.blob import BlobKey, LocalBlobStore
from ferry.store.kept import open_local_kept

__all__ = ["hf_token", "model_parts"]


def hf_token() -> str | None:
    """The token huggingface_hub would send (``HF_TOKEN``), for pulling."""
    return os.environ.get("HF_TOKEN") or None


async def model_parts(
    settings: Settings,
    specs: list[tuple[str, str, str]],
    *,
    endpoint: str | None,
    token: str | None,
    scratch: Path,
) -> list[ModelPart]:
    """A part per ``(kind, id, revision)``: the version the revision names here, else
    pulled from ``endpoint``. With the kept store in a bucket, each blob is copied to
    ``scratch`` (the archive is written from local files)."""
    parts: list[ModelPart] = []
    async with open_local_kept(settings) as kept:
        assert kept.catalog is not None
        for kind, repo, revision in specs:
            model = await kept.db(kept.catalog.get, kind, repo)
            version = model.resolve(revision) if model is not None else None
            if version is None:
                if not endpoint:
                    raise UsageError(
                        f"{kind} {repo}@{revision} is not in this side's catalog",
                        hint="Pull it first (ferry models pull), or give --endpoint / "
                        "HF_ENDPOINT to pull it now.",
                    )
                version = await pull_model(
                    settings, kept, repo, revision, kind=kind, endpoint=endpoint, token=token
                )
                model = await kept.db(kept.catalog.get, kind, repo)
            assert model is not None
            sources: dict[str, Path] = {}
            for f in version.files:
                key = BlobKey.sha256(f.sha256)
                if isinstance(kept.blobs, LocalBlobStore):
                    sources[f.sha256] = kept.blobs.path_for(key)
                    continue
                copy = scratch / f.sha256
                if not await asyncio.to_thread(copy.exists):
                    await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
                    with copy.open("wb") as fh:
                        async for chunk in kept.blobs.read(key):
                            await asyncio.to_thread(fh.write, chunk)
                sources[f.sha256] = copy
            parts.append(ModelPart(model, version, sources))
    return parts
