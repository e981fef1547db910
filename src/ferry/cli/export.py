"""``ferry export -o registry.zip``: what this side's registries hold, as a bundle that
``ferry import`` or ``ferry push`` takes elsewhere (:mod:`ferry.registry.export`)."""

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
    from ferry.bundle.archive import ArchiveFormat
    from ferry.registry.export import ExportResult
    from ferry.registry.inventory import Inventory
    from ferry.settings import Settings

out = Console(soft_wrap=True)


def export_command(
    output: Annotated[Path, typer.Option("-o", "--output", help="Archive to write.")],
    exclude_present: Annotated[
        Path | None,
        typer.Option(
            "--exclude-present",
            help="The receiving side's inventory (ferry inventory): leave out what it holds.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="zip | tar.gz | tar.zst (default: from the output name)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="The server's data directory.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Write everything the registries hold into one bundle for ferry import elsewhere."""
    from ferry.bundle.archive import SUPPORTED_FORMATS, format_from_name
    from ferry.errors import UsageError
    from ferry.registry.inventory import Inventory
    from ferry.settings import load_settings

    chosen = fmt or format_from_name(output)
    if chosen not in SUPPORTED_FORMATS:
        raise UsageError(
            f"{output}: say the format with --format ({', '.join(SUPPORTED_FORMATS)}) "
            f"or name the file after it"
        )
    present = Inventory.load(exclude_present) if exclude_present is not None else None
    settings = load_settings(config, data_dir=data_dir)
    result = asyncio.run(_export(settings, output, chosen, present))
    if as_json:
        doc = {
            "archive": str(result.archive),
            "archive_size": result.archive_size,
            "archive_sha256": result.archive_sha256,
            "files": result.files,
            "present_files": result.present_files,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    left = f", {result.present_files} left out (held there)" if present is not None else ""
    out.print(
        f"wrote {result.archive} ({human_bytes(result.archive_size)}): {result.files} files{left}",
        highlight=False,
    )
    out.print(f"sha256 {result.archive_sha256}", highlight=False)


async def _export(
    settings: Settings, output: Path, fmt: ArchiveFormat, present: Inventory | None
) -> ExportResult:
    from ferry.registry.export import export_bundle
    from ferry.store.kept import open_local_kept

    async with open_local_kept(settings) as kept:
        return await export_bundle(kept, output, fmt, present=present)
