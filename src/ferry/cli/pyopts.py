"""The command-line options that say how Python packages are chosen (pip's and uv's
spellings), shared by ``ferry resolve`` and ``ferry bundle``."""

from __future__ import annotations

from typing import Annotated

import typer

from ferry.ecosystems.pypi.options import OptionError, PythonOptions
from ferry.errors import UsageError
from ferry.settings import Settings

OnlyBinaryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--only-binary",
        help="Wheels only, for :all: or these packages (comma-separated, repeatable), as pip: "
        "per target, the newest releases that have a wheel for it.",
    ),
]
NoBinaryOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--no-binary", help="sdists only, for :all: or these packages (built on the target)."
    ),
]
PreferBinaryOpt = Annotated[
    bool,
    typer.Option(
        "--prefer-binary",
        help="An older release with a wheel over a newer one that must be built on the target.",
    ),
]
ExcludeNewerOpt = Annotated[
    str | None,
    typer.Option(
        "--exclude-newer",
        help="Resolve as of this date (2024-03-01) or RFC 3339 time: nothing uploaded later.",
    ),
]
TorchBackendOpt = Annotated[
    str | None,
    typer.Option(
        "--torch-backend",
        help="PyTorch build for the target: cpu, cu126, rocm6.3, xpu (from `torch_index` in "
        "Ferry's settings, else uv's own).",
    ),
]


def python_options(
    only_binary: list[str] | None,
    no_binary: list[str] | None,
    prefer_binary: bool,
    exclude_newer: str | None,
    torch_backend: str | None,
) -> PythonOptions:
    try:
        return PythonOptions.build(
            only_binary=only_binary or (),
            no_binary=no_binary or (),
            prefer_binary=prefer_binary,
            exclude_newer=exclude_newer,
            torch_backend=torch_backend,
        )
    except OptionError as exc:
        raise UsageError(str(exc)) from None


RegistryOpt = Annotated[
    str | None,
    typer.Option("--registry", help="A source profile from the `registries` setting."),
]
IndexUrlOpt = Annotated[
    str | None, typer.Option("--index-url", "-i", help="Primary Python index (as pip's -i).")
]
ExtraIndexUrlOpt = Annotated[
    list[str] | None,
    typer.Option("--extra-index-url", help="Another Python index (repeatable)."),
]
FindLinksOpt = Annotated[
    list[str] | None,
    typer.Option("--find-links", "-f", help="A page or directory of files (repeatable)."),
]
IgnoreManifestIndexesOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-manifest-indexes",
        help="Leave out the manifests' own index lines and Pipfile [[source]]s.",
    ),
]


def with_sources(
    settings: Settings,
    registry: str | None,
    index_url: str | None,
    extra_index_urls: list[str] | None,
    find_links: list[str] | None,
    ignore_manifest_indexes: bool,
) -> Settings:
    """The settings with a profile picked, then the command line's own sources above it
    (what the user typed is what they mean, as with pip)."""
    settings = settings.with_registry(registry)
    update: dict[str, object] = {}
    if index_url:
        update["index_url"] = index_url
    if extra_index_urls:
        update["extra_index_urls"] = list(extra_index_urls)
    if find_links:
        update["find_links"] = list(find_links)
    if ignore_manifest_indexes:
        update["ignore_manifest_indexes"] = True
    return settings.model_copy(update=update) if update else settings
