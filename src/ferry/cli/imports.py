"""``ferry import BUNDLE...``: bundles into the far side's registries, on this machine's
data directory (the database and kept store ``ferry serve`` uses).

Each bundle is imported whole or not at all (:mod:`ferry.registry.importer`): a refusal
names the member, field or package and keeps nothing; the next bundle is still tried, and
the exit code says whether any was refused.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ferry.cli.progress import PhaseBars
from ferry.errors import FerryError, UsageError
from ferry.units import human_bytes

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def import_command(
    bundles: Annotated[list[Path], typer.Argument(help="Bundle archives made by ferry bundle.")],
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The server's data directory.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Import bundles into the registries ferry serve offers, each whole or not at all."""
    from ferry.settings import load_settings

    for bundle in bundles:
        if not bundle.is_file():
            raise UsageError(f"{bundle}: no such file")
    settings = load_settings(config, data_dir=data_dir)
    results = asyncio.run(_import_all(settings, bundles, show=not as_json and err.is_terminal))
    if as_json:
        sys.stdout.write(json.dumps({"imports": results}, indent=2) + "\n")
    else:
        for doc in results:
            out.print(_line(doc), highlight=False)
    if any("error" in doc for doc in results):
        raise typer.Exit(int(results[-1].get("exit_code", 1)) if len(results) == 1 else 1)


def _line(doc: dict[str, Any]) -> str:
    if "error" in doc:
        return f"refused  {doc['bundle']}: {doc['error']['message']}"
    if doc["repeated"]:
        return f"held     {doc['bundle']}: imported before ({doc['created_at']}); nothing added"
    return (
        f"imported {doc['bundle']}: {doc['file_count']} files for the registries, "
        f"{doc['new_count']} new ({human_bytes(doc['archive_size'])} archive)"
    )


async def _import_all(settings: Any, bundles: list[Path], *, show: bool) -> list[dict[str, Any]]:
    from ferry.registry.importer import import_bundle
    from ferry.store.kept import open_local_kept

    results: list[dict[str, Any]] = []
    async with open_local_kept(settings) as kept:
        artifacts = kept.artifacts
        assert artifacts is not None
        for bundle in bundles:
            with PhaseBars(bundle.name, show, err) as progress:
                try:
                    record = await import_bundle(
                        bundle,
                        kept,
                        artifacts,
                        kept.db,
                        work_dir=settings.data_dir / "imports",
                        max_bytes=settings.import_max_bytes,
                        owner="local",
                        progress=progress,
                    )
                except FerryError as exc:
                    results.append(
                        {
                            "bundle": bundle.name,
                            "error": exc.to_dict(),
                            "exit_code": int(exc.exit_code),
                        }
                    )
                    continue
            results.append(
                {
                    "bundle": bundle.name,
                    "import_id": record.id,
                    "archive_sha256": record.archive_sha256,
                    "archive_size": record.archive_size,
                    "file_count": record.file_count,
                    "new_count": 0 if record.repeated else record.new_count,
                    "repeated": record.repeated,
                    "created_at": record.created_at.isoformat(timespec="seconds"),
                }
            )
    return results
