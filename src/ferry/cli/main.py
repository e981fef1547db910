"""The `ferry` command. Settings are built here, once, and passed to the services."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ferry import __version__
from ferry.cli.pyopts import (
    ExcludeNewerOpt,
    ExtraIndexUrlOpt,
    FindLinksOpt,
    IgnoreManifestIndexesOpt,
    IndexUrlOpt,
    NoBinaryOpt,
    OnlyBinaryOpt,
    PreferBinaryOpt,
    RegistryOpt,
    TorchBackendOpt,
    python_options,
    with_sources,
)
from ferry.errors import ExitCode, FerryError, UsageError
from ferry.settings import Settings, load_settings

# The services (HTTP client, resolver driver), targets, renderers and archive writers are
# imported inside the commands that use them: every `ferry` invocation would otherwise pay
# for importing them at start-up (`ferry fetch` of 500 small files is a ~1 s race).
if TYPE_CHECKING:
    from ferry.bundle.archive import ArchiveFormat

app = typer.Typer(
    name="ferry",
    help="Resolve, fetch, verify and bundle packages for machines that cannot reach an index.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# soft_wrap: paths and URLs must stay whole so they can be copied and grepped; piped
# output gets a wide page instead of 80 columns so tree lines are not cut.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
if not out.is_terminal:
    out.width = 200

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory.")]
ManifestsArg = Annotated[
    list[Path],
    typer.Argument(
        help="requirements*.txt, pyproject.toml, Pipfile, Pipfile.lock, package.json, "
        "package-lock.json or npm-shrinkwrap.json files."
    ),
]
PythonOpt = Annotated[
    list[str] | None,
    typer.Option("--python", help="Target Python version (repeatable). Default: this one."),
]
PlatformOpt = Annotated[
    list[str] | None,
    typer.Option("--platform", help="Target platform tag (repeatable), e.g. win_amd64."),
]
GroupOpt = Annotated[
    list[str] | None,
    typer.Option("--group", "-G", help="Extra or dependency group to include (repeatable)."),
]
AllGroupsOpt = Annotated[bool, typer.Option("--all-groups", help="Include every group/extra.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _settings(config: Path | None, data_dir: Path | None) -> Settings:
    return load_settings(config, data_dir=data_dir)


def _targets(pythons: list[str] | None, platforms: list[str] | None) -> list[Any]:
    from ferry.targets import host_target, parse_targets

    host = host_target()
    return parse_targets(pythons or [host.python_version], platforms or [host.platform])


def _exit_for(has_errors: bool, has_warnings: bool) -> ExitCode:
    if has_errors:
        return ExitCode.RESOLUTION
    return ExitCode.WARNINGS if has_warnings else ExitCode.OK


def _print_json(doc: object) -> None:
    # Plain and unhighlighted: it is for machines, and rich's pretty printer takes longer
    # than the whole download of a 250-package lock.
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()


def _run(coro: Any) -> Any:
    return asyncio.run(coro)


NodeOpt = Annotated[
    str | None, typer.Option("--node", help="Target Node major version (18/20/22/24).")
]
OsOpt = Annotated[str | None, typer.Option("--os", help="Target os for npm: linux, win32, darwin.")]
CpuOpt = Annotated[str | None, typer.Option("--cpu", help="Target cpu for npm: x64, arm64.")]
LibcOpt = Annotated[str | None, typer.Option("--libc", help="Target libc on linux: glibc, musl.")]
AllPlatformsOpt = Annotated[
    bool, typer.Option("--all-platforms", help="Keep npm optional packages for every platform.")
]


def _node_target(node: str | None, os: str | None, cpu: str | None, libc: str | None) -> Any:
    from ferry.targets import NodeTarget, host_node_target

    host = host_node_target()
    return NodeTarget.parse(
        node or host.node,
        os or host.os,
        cpu or host.cpu,
        libc or (host.libc if (os or host.os) == "linux" else None),
    )


@app.command()
def resolve(
    manifests: ManifestsArg,
    python: PythonOpt = None,
    platform: PlatformOpt = None,
    node: NodeOpt = None,
    os: OsOpt = None,
    cpu: CpuOpt = None,
    libc: LibcOpt = None,
    all_platforms: AllPlatformsOpt = False,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    only_binary: OnlyBinaryOpt = None,
    no_binary: NoBinaryOpt = None,
    prefer_binary: PreferBinaryOpt = False,
    exclude_newer: ExcludeNewerOpt = None,
    torch_backend: TorchBackendOpt = None,
    registry: RegistryOpt = None,
    index_url: IndexUrlOpt = None,
    extra_index_url: ExtraIndexUrlOpt = None,
    find_links: FindLinksOpt = None,
    ignore_manifest_indexes: IgnoreManifestIndexesOpt = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Show what a bundle would hold: the trees, the file per target, sizes and problems.

    Exit code: 0 clean, 3 warnings only, 5 resolution errors.
    """
    from ferry.cli.render import render_npm, render_resolution
    from ferry.manifests import split_manifests
    from ferry.services.resolve import resolve_all

    settings = with_sources(
        _settings(config, data_dir),
        registry,
        index_url,
        extra_index_url,
        find_links,
        ignore_manifest_indexes,
    )
    python_files, npm_files = split_manifests(manifests)
    targets = _targets(python, platform) if python_files else []
    node_target = _node_target(node, os, cpu, libc) if npm_files else None
    from ferry.manifests.model import Selection

    selection = Selection(frozenset(group or ()), all_groups)
    options = python_options(only_binary, no_binary, prefer_binary, exclude_newer, torch_backend)

    resolved = _run(
        resolve_all(
            settings,
            list(manifests),
            targets,
            node_target,
            selection,
            all_platforms=all_platforms,
            python_options=options,
        )
    )
    py, npm = resolved.python, resolved.npm
    errors, warnings = resolved.has_errors, resolved.has_warnings
    offline = py is not None and py.resolution.unreachable
    if as_json:
        doc: dict[str, Any] = {}
        if py is not None:
            doc["python"] = py.resolution.to_dict()
            doc["python"]["options"] = py.options.to_dict()
            doc["index"] = py.sources.index_url
        if npm is not None:
            doc["npm"] = npm.to_dict()
        _print_json(doc)
    else:
        if py is not None:
            render_resolution(out, py.resolution)
        if npm is not None:
            render_npm(out, npm)
    raise typer.Exit(ExitCode.NETWORK if offline else _exit_for(errors, warnings))


@app.command()
def bundle(
    output: Annotated[Path, typer.Option("-o", "--output", help="Archive to write.")],
    manifests: Annotated[
        list[Path] | None,
        typer.Argument(
            help="requirements*.txt, pyproject.toml, Pipfile, Pipfile.lock, package.json, "
            "package-lock.json or npm-shrinkwrap.json files (none with only --model)."
        ),
    ] = None,
    python: PythonOpt = None,
    platform: PlatformOpt = None,
    node: NodeOpt = None,
    os: OsOpt = None,
    cpu: CpuOpt = None,
    libc: LibcOpt = None,
    all_platforms: AllPlatformsOpt = False,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="zip | tar.gz | tar.zst (default: from the output name)."),
    ] = None,
    group: GroupOpt = None,
    all_groups: AllGroupsOpt = False,
    only_binary: OnlyBinaryOpt = None,
    no_binary: NoBinaryOpt = None,
    prefer_binary: PreferBinaryOpt = False,
    exclude_newer: ExcludeNewerOpt = None,
    torch_backend: TorchBackendOpt = None,
    registry: RegistryOpt = None,
    index_url: IndexUrlOpt = None,
    extra_index_url: ExtraIndexUrlOpt = None,
    find_links: FindLinksOpt = None,
    ignore_manifest_indexes: IgnoreManifestIndexesOpt = False,
    exclude_present: Annotated[
        Path | None,
        typer.Option(
            "--exclude-present",
            help="The far side's inventory (ferry inventory -o have.json): leave out what "
            "its registries hold; the bundle is then for ferry import only.",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            help="A model to carry, org/name[@revision] (repeatable): from this side's "
            "catalog, or pulled from --endpoint first.",
        ),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="A dataset to carry, org/name[@revision] (repeatable)."),
    ] = None,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint", envvar="HF_ENDPOINT", help="Where to pull a model this side lacks."
        ),
    ] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Resolve, fetch and verify everything, and write one archive that installs offline.

    Exit code: 0 clean, 3 written with warnings (e.g. an sdist to build on the target).
    """
    from ferry.cli.render import render_npm, render_resolution
    from ferry.fetch.progress import make_progress
    from ferry.manifests import split_manifests
    from ferry.manifests.model import Selection
    from ferry.registry.inventory import Inventory
    from ferry.services.bundle import BundlePlan
    from ferry.services.bundle import bundle as make_bundle
    from ferry.services.python_bundle import ResolutionFailed
    from ferry.units import human_bytes

    settings = with_sources(
        _settings(config, data_dir),
        registry,
        index_url,
        extra_index_url,
        find_links,
        ignore_manifest_indexes,
    )
    manifests = manifests or []
    from ferry.models.bundled import parse_spec

    specs = [parse_spec(m, "model") for m in model or []]
    specs += [parse_spec(d, "dataset") for d in dataset or []]
    if not manifests and not specs:
        raise UsageError("nothing to bundle: name manifests, or --model / --dataset")
    python_files, npm_files = split_manifests(manifests)
    plan = BundlePlan(
        manifests=list(manifests),
        python_targets=_targets(python, platform) if python_files else [],
        node_target=_node_target(node, os, cpu, libc) if npm_files else None,
        selection=Selection(frozenset(group or ()), all_groups),
        all_platforms=all_platforms,
        python_options=python_options(
            only_binary, no_binary, prefer_binary, exclude_newer, torch_backend
        ),
        # read before anything is resolved: a bad file should not cost a whole fetch
        present=Inventory.load(exclude_present) if exclude_present is not None else None,
    )
    archive_format = _archive_format(fmt, output)
    listener = make_progress(err)
    status = err.status("", spinner="dots")
    count = len(plan.python_targets) + (1 if plan.node_target else 0)

    def phase(name: str) -> None:
        # a spinner while resolving and packing; the download bars in between
        if name.startswith("fetching"):
            status.stop()
        else:
            status.update(f"{name.capitalize()} for {count} target(s)…")
            status.start()

    async def made() -> Any:
        import shutil

        scratch = settings.data_dir / "models-scratch"
        try:
            if specs:
                from ferry.models.carry import hf_token, model_parts

                plan.models = await model_parts(
                    settings,
                    specs,
                    endpoint=endpoint or settings.hf_endpoint,
                    token=hf_token(),
                    scratch=scratch,
                )
            return await make_bundle(
                settings, plan, output, archive_format, listener=listener, phase=phase
            )
        finally:
            # copies out of a bucket, made for this archive only
            shutil.rmtree(scratch, ignore_errors=True)

    try:
        result = _run(made())
    except ResolutionFailed as failure:
        status.stop()
        if failure.outcome is not None:
            render_resolution(err, failure.outcome.resolution)
        if failure.npm is not None:
            render_npm(err, failure.npm)
        raise
    finally:
        status.stop()
    py = result.resolve.resolution if result.resolve is not None else None
    problems = (py.all_problems if py else []) + (result.npm.problems if result.npm else [])
    if as_json:
        doc: dict[str, Any] = {
            "archive": str(result.archive),
            "archive_size": result.archive_size,
            "archive_sha256": result.archive_sha256,
            "files": result.files,
            "bytes_fetched": result.bytes_fetched,
            "from_cache": result.from_cache,
            "present_files": result.present_files,
            "present_bytes": result.present_bytes,
            "timings": {k: round(v, 3) for k, v in result.timings.items()},
        }
        if py is not None:
            doc["python"] = py.to_dict()
        if result.npm is not None:
            doc["npm"] = result.npm.to_dict()
        _print_json(doc)
    else:
        for p in problems:
            colour = "yellow" if p.severity == "warning" else "dim"
            err.print(f"[{colour}]{p.severity}[/][dim]\\[{p.kind}][/]: {p.message}")
        out.print(
            f"[green]wrote[/] {result.archive} ({human_bytes(result.archive_size)}): "
            f"{result.files} files for {count} target(s), "
            f"{human_bytes(result.bytes_fetched)} fetched, {result.from_cache} from cache"
        )
        if plan.present is not None:
            out.print(
                f"left out {result.present_files} files ({human_bytes(result.present_bytes)}) "
                f"the far side holds: import this bundle there (ferry import)"
            )
        # to check the copy that crossed the gap: sha256sum <archive> on the other side
        out.print(f"sha256 {result.archive_sha256}")
    raise typer.Exit(_exit_for(False, any(p.severity == "warning" for p in problems)))


def _archive_format(fmt: str | None, output: Path) -> ArchiveFormat:
    from ferry.bundle.archive import SUPPORTED_FORMATS, format_from_name

    if fmt is None:
        guessed = format_from_name(output)
        if guessed is None:
            raise UsageError(
                f"cannot tell the archive format from {output.name!r}",
                hint="Name it .zip, .tar.gz or .tar.zst, or pass --format.",
            )
        return guessed
    for supported in SUPPORTED_FORMATS:
        if fmt == supported:
            return supported
    raise UsageError(f"unknown archive format {fmt!r}", hint="Use zip, tar.gz or tar.zst.")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="No tokens: everyone is admin. Only on a loopback address."),
    ] = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Start the Ferry service on its embedded default (SQLite + local files).

    Every request needs a token (`ferry token create`); the first start makes an admin
    token and prints it once. Every flag also has a setting and a FERRY_ variable
    (FERRY_HOST, FERRY_PORT, FERRY_DATA_DIR); FERRY_DATABASE_URL points it at PostgreSQL.
    """
    import uvicorn

    from ferry.heap import keep_freed_buffers
    from ferry.server.app import create_app
    from ferry.server.protocol import FerryHttpProtocol

    settings = load_settings(
        config, data_dir=data_dir, host=host, port=port, no_auth=no_auth or None
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    from ferry.settings import config_file_in_use

    # refuses --no-auth off loopback; hides the settings file from the resolver sandbox
    application = create_app(settings, config_file=config_file_in_use(config))
    url = f"http://{settings.host}:{settings.port}/"
    err.print(
        f"ferry {__version__}: serving {url} (API docs at /docs), data in "
        f"{settings.data_dir}, database {settings.effective_database_url.split('@')[-1]}",
        highlight=False,
    )
    if settings.no_auth:
        err.print(
            f"[bold yellow]warning[/]: serving WITHOUT authentication (--no-auth): anyone "
            f"who can reach {settings.host} is an admin",
            highlight=False,
        )
    else:
        _announce_admin_token(settings, url)
    if settings.resolver_sandbox == "none":
        err.print(
            "[bold yellow]warning[/]: uv and npm run WITHOUT a sandbox "
            '(resolver_sandbox = "none"): serve only files you trust',
            highlight=False,
        )
    keep_freed_buffers()  # every upload's pieces: see ferry.heap
    uvicorn.run(
        application,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,
        # asyncio's loop, not uvloop: uvloop starts a process with libuv's fork of the whole
        # service on the event loop (uv and npm for every task), which stalled every other
        # request for tens of milliseconds each time; asyncio uses CPython's vfork.
        loop="asyncio",
        # bigger reads, and request bodies passed on without copies (ferry.server.protocol)
        http=FerryHttpProtocol,
    )


@app.command()
def worker(
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=1,
            max=64,
            help="Task steps this process takes at once (the service-wide limit is "
            "max_concurrent_tasks).",
        ),
    ] = 4,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Run the tasks `ferry serve` replicas queue, when the task_queue setting names a Redis.

    Start as many as you like, on any machine that reaches the same database
    (FERRY_DATABASE_URL), Redis (FERRY_TASK_QUEUE) and bucket (FERRY_BLOB_STORE). SIGTERM
    stops it: the steps under way go back to the queue for another worker.
    """
    import logging

    from ferry.jobs.worker import Worker
    from ferry.settings import config_file_in_use

    settings = load_settings(config, data_dir=data_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runner = Worker(settings, threads=threads, config_file=config_file_in_use(config))
    err.print(
        f"ferry {__version__}: worker on {settings.task_queue.split('@')[-1]}, "
        f"{threads} threads, data in {settings.data_dir}, database "
        f"{settings.effective_database_url.split('@')[-1]}",
        highlight=False,
    )
    runner.run()


def _announce_admin_token(settings: Settings, url: str) -> None:
    """First start: make the admin token and print it once (as Jupyter does); later
    starts say where it was written."""
    from ferry.auth.bootstrap import ADMIN_TOKEN_FILE, ensure_admin_token
    from ferry.db.engine import make_engine, make_sessionmaker, upgrade
    from ferry.db.tokens import TokenRepository

    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        token = ensure_admin_token(TokenRepository(make_sessionmaker(engine)), settings.data_dir)
    finally:
        engine.dispose()
    path = settings.data_dir / ADMIN_TOKEN_FILE
    if token is not None:
        err.print(
            f"first start: an admin token was made and written to {path} (mode 0600).\n"
            f"  Sign in to the web UI with it, or open:\n      {url}#token={token}\n"
            f"  For scripts: Authorization: Bearer {token}",
            highlight=False,
        )
    elif path.is_file():
        err.print(f"the first admin token is in {path}", highlight=False)


@app.command("fetch")
def fetch_files(
    urls: Annotated[list[str] | None, typer.Argument(help="URLs to fetch.")] = None,
    output_dir: Annotated[
        Path, typer.Option("-o", "--dir", help="Directory to save into.")
    ] = Path(),
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="Digest the (one) file must have.")
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option("-i", "--input-file", help="List of URLs, aria2's input-file format."),
    ] = None,
    connections: Annotated[
        int | None,
        typer.Option("-x", "--connections", min=1, max=64, help="Connections per large file."),
    ] = None,
    limit_rate: Annotated[
        str | None, typer.Option("--limit-rate", help="Bandwidth limit, e.g. 10M (per second).")
    ] = None,
    stall_timeout: Annotated[
        float | None,
        typer.Option(
            "--stall-timeout",
            min=0.1,
            help="Seconds a connection may send nothing before its range moves to a new one.",
        ),
    ] = None,
    backend: Annotated[
        str | None, typer.Option("--backend", help="native (default) or aria2.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Fetch again files that are already complete.")
    ] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Fetch files like aria2c or curl: resumable, verified, many connections at once.

    An interrupted run leaves NAME.ferry-part files; running the same command again
    resumes them. Exit codes: 0 all fetched, 6 a network failure, 7 a digest mismatch,
    4 a bad input list, 2 bad usage.
    """
    from ferry.fetch.progress import make_progress
    from ferry.services.download import plan_downloads, run

    settings = load_settings(
        config,
        data_dir=data_dir,
        segments=connections,
        limit_rate=limit_rate,
        stall_timeout=stall_timeout,
        fetch_backend=backend,
    )
    plan = plan_downloads(
        list(urls or []), input_file=input_file, out_dir=output_dir, sha256=sha256, force=force
    )
    for kept in plan.kept:
        err.print(f"complete {kept.dest} (kept; --force fetches it again)", highlight=False)
    report = run(settings, plan.requests, make_progress(err)) if plan.requests else None
    failures = report.failures if report else []
    if json_out:
        docs: list[dict[str, Any]] = [
            {"url": r.url, "path": str(r.dest), "status": "kept"} for r in plan.kept
        ]
        for result in report.results if report else []:
            docs.append(
                {
                    "url": result.request.url,
                    "path": str(result.path),
                    "status": "cached" if result.from_cache else "fetched",
                    "size": result.path.stat().st_size,
                    "bytes_fetched": result.bytes_fetched,
                    result.request.algorithm if result.request.digest else "sha256": result.digest,
                }
            )
        for request, error in failures:
            docs.append(
                {
                    "url": request.url,
                    "path": str(request.dest),
                    "status": "failed",
                    "error": error.to_dict(),
                }
            )
        _print_json(docs)
    if failures:
        codes = {int(error.exit_code) for _, error in failures}
        # A digest mismatch outranks a network failure: it means do-not-trust, not retry.
        raise typer.Exit(
            int(ExitCode.INTEGRITY) if int(ExitCode.INTEGRITY) in codes else max(codes)
        )


@app.command("config")
def show_config(
    registry: RegistryOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Show the settings in force and where the package indexes come from."""
    from ferry.ecosystems.pypi.sources import discover_sources

    settings = _settings(config, data_dir).with_registry(registry)
    sources = discover_sources(settings)
    doc = {
        "settings": json.loads(settings.model_dump_json()),
        "python_index": {
            "index_url": sources.index_url,
            "extra_index_urls": list(sources.extra_index_urls),
            "find_links": list(sources.find_links),
            "cert": str(sources.cert) if sources.cert else None,
            "proxy": sources.proxy,
            "strategy": sources.strategy,
            "origin": sources.origin,
        },
    }
    try:
        from ferry.ecosystems.npm.npmcli import find_npm
        from ferry.ecosystems.npm.sources import discover_npm_sources

        npm = discover_npm_sources(settings, find_npm(settings.npm_binary))
        doc["npm_registry"] = {
            "registry": npm.registry,
            "scoped": npm.scoped,
            "cafile": str(npm.cafile) if npm.cafile else None,
            "proxy": npm.proxy,
            "origin": npm.origin,
        }
    except FerryError as exc:  # no npm here: Python bundles still work
        doc["npm_registry"] = {"error": exc.message}
    _print_json(doc)


def _add_subcommands() -> None:
    from ferry.cli.agent import agent_app
    from ferry.cli.cache import cache_app
    from ferry.cli.export import export_command
    from ferry.cli.imports import import_command
    from ferry.cli.inventory import inventory_command
    from ferry.cli.models import models_app
    from ferry.cli.packages import packages_app
    from ferry.cli.push import push_command
    from ferry.cli.tokens import token_app

    app.add_typer(token_app, name="token")
    app.add_typer(packages_app, name="packages")
    app.add_typer(cache_app, name="cache")
    app.add_typer(models_app, name="models")
    app.add_typer(agent_app, name="agent")
    app.command("import")(import_command)
    app.command("push")(push_command)
    app.command("inventory")(inventory_command)
    app.command("export")(export_command)


_add_subcommands()


@app.callback(invoke_without_command=True)
def _root(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        out.print(f"ferry {__version__}")
        raise typer.Exit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point: every FerryError becomes a message, a hint and its exit code."""
    try:
        # standalone: typer reports usage errors itself (exit 2) and turns Exit into SystemExit
        app(args=argv, prog_name="ferry")
    except FerryError as exc:
        from ferry.cli.render import render_error

        render_error(err, exc)
        return int(exc.exit_code)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else int(ExitCode.INTERNAL)
    except KeyboardInterrupt:
        err.print("interrupted")
        return 130
    return 0


def run() -> None:
    """The ``ferry`` command: :func:`main`, then out. A process that ran a BitTorrent
    session leaves with ``os._exit`` once its output is flushed, so libtorrent's session
    teardown cannot hold the exit (see ``ferry.agent.swarm``)."""
    code = main()
    if "ferry.agent.swarm" in sys.modules and sys.modules["ferry.agent.swarm"].sessions_retired():
        import os

        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    run()
