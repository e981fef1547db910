"""``ferry inventory -o have.json``: what this far side's registries hold, for the near
side's ``ferry bundle --exclude-present have.json`` (:mod:`ferry.registry.inventory`)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ferry.units import human_bytes

if TYPE_CHECKING:
    from ferry.db.artifacts import ArtifactRecord
    from ferry.settings import Settings

err = Console(stderr=True, soft_wrap=True)


def inventory_command(
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write it (default: standard output)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The server's data directory.")
    ] = None,
) -> None:
    """List what the registries ferry serve offers hold (names, versions, sha256), for a
    delta bundle made on the near side."""
    from ferry.registry.inventory import inventory_document
    from ferry.settings import load_settings

    settings = load_settings(config, data_dir=data_dir)
    files = asyncio.run(_held(settings))
    text = json.dumps(inventory_document(files), indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    # written whole or not at all: a half-written inventory would make a bundle lack files
    staging = output.with_name(output.name + ".part")
    staging.write_text(text, encoding="utf-8")
    staging.replace(output)
    err.print(
        f"wrote {output}: {len(files)} files ({human_bytes(sum(f.size for f in files))}) "
        f"the registries hold",
        highlight=False,
    )


async def _held(settings: Settings) -> list[ArtifactRecord]:
    from ferry.store.kept import open_local_kept

    async with open_local_kept(settings) as kept:
        assert kept.artifacts is not None
        return await kept.db(kept.artifacts.inventory)
