"""``ferry cache``: how much the cache of fetched files and the kept store hold, and
making room.

``prune`` evicts the cache's least recently used files down to its cap (the setting
``cache_max_bytes``, or ``--max-size``; ``--all`` empties it), never one used within
``cache_min_age``, so a bundle under way in a running server keeps its files. Then it
collects the kept store's blobs that no package or task names any more (left by a crash
between storing bytes and recording them), if this data directory has a database.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ferry.errors import UsageError
from ferry.units import human_bytes, parse_size

cache_app = typer.Typer(
    help="Look at and prune the cache of fetched files and the kept store.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Ferry's data directory.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@cache_app.command("info")
def info(config: ConfigOpt = None, data_dir: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """What the cache and the kept store hold."""
    from ferry.settings import load_settings
    from ferry.store.cache import usage
    from ferry.store.cas import ContentStore

    settings = load_settings(config, data_dir=data_dir)
    cached = usage(ContentStore(settings.blob_dir))
    kept = asyncio.run(_kept_usage(settings))
    doc = {
        "cache": {
            "path": str(settings.blob_dir),
            "files": cached.blobs,
            "bytes": cached.bytes,
            "max_bytes": settings.cache_max_bytes or None,
            "min_age": settings.cache_min_age,
        },
        "kept": kept,
    }
    if as_json:
        _print_json(doc)
        return
    cap = human_bytes(settings.cache_max_bytes) if settings.cache_max_bytes else "no limit"
    out.print(
        f"cache  {settings.blob_dir}: {cached.blobs} files, {human_bytes(cached.bytes)} "
        f"(cap {cap})",
        highlight=False,
    )
    out.print(
        f"kept   {kept['location']}: {kept['blobs']} blobs, {human_bytes(kept['bytes'])}",
        highlight=False,
    )


@cache_app.command("prune")
def prune(
    max_size: Annotated[
        str | None,
        typer.Option("--max-size", help="Evict down to this (20G, 500M…); default: the cap."),
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Empty the cache, recently used files too.")
    ] = False,
    min_age: Annotated[
        float | None,
        typer.Option("--min-age", min=0, help="Keep files used this many seconds ago."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would go; remove nothing.")
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Evict least recently used cached files; collect kept blobs nothing names."""
    from ferry.services.cache import trim_cache
    from ferry.settings import load_settings

    if everything and max_size is not None:
        raise UsageError("--all and --max-size contradict each other: give one")
    cap: int | None = 0 if everything else None
    if max_size is not None:
        try:
            cap = parse_size(max_size)
        except ValueError as exc:
            raise UsageError(f"--max-size: {exc}") from None
    settings = load_settings(config, data_dir=data_dir)
    age = min_age if min_age is not None else (0.0 if everything else None)
    pruned = trim_cache(settings, max_bytes=cap, min_age=age, dry_run=dry_run)
    collected = asyncio.run(_collect(settings, dry_run=dry_run))
    doc: dict[str, Any] = {
        "dry_run": dry_run,
        "cache": None
        if pruned is None
        else {
            "removed": pruned.removed,
            "freed": pruned.freed,
            "files": pruned.kept.blobs,
            "bytes": pruned.kept.bytes,
            "spared": pruned.spared,
        },
        "kept": collected,
    }
    if as_json:
        _print_json(doc)
        return
    verb = "would remove" if dry_run else "removed"
    if pruned is None:
        out.print("cache: no limit set (cache_max_bytes = 0); nothing evicted", highlight=False)
    else:
        line = (
            f"cache: {verb} {pruned.removed} files ({human_bytes(pruned.freed)}); "
            f"{pruned.kept.blobs} files, {human_bytes(pruned.kept.bytes)} left"
        )
        if pruned.spared:
            line += f"; {pruned.spared} used in the last {settings.cache_min_age:.0f} s kept"
        out.print(line, highlight=False)
    if collected is None:
        out.print("kept store: no database here, nothing to collect", highlight=False)
    else:
        out.print(
            f"kept store: {verb} {collected['removed']} blobs no package or task names "
            f"({human_bytes(collected['freed'])})",
            highlight=False,
        )


async def _kept_usage(settings: Any) -> dict[str, Any]:
    from ferry.store.blob import open_blob_store

    count = total = 0
    async with open_blob_store(settings) as blobs:
        async for blob in blobs.iter_blobs():
            count += 1
            total += blob.size
        location = blobs.location
    return {"location": location, "blobs": count, "bytes": total}


async def _collect(settings: Any, *, dry_run: bool) -> dict[str, Any] | None:
    """Collect unnamed kept blobs, if there is a database to say what is named."""
    from ferry.store.kept import open_local_kept

    if settings.database_url is None and not (settings.data_dir / "ferry.db").is_file():
        return None
    async with open_local_kept(settings) as kept:
        # the same age guard as the service's own sweep: an upload of a running server
        # records its row within moments of storing its bytes
        result = await kept.collect(min_age=settings.blob_staging_max_age, dry_run=dry_run)
    return {"removed": result.removed, "freed": result.freed, "blobs": result.kept}


def _print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
