"""``ferry push BUNDLE --to URL``: a bundle's files into a devpi, verdaccio, Nexus or
Artifactory a team already runs (:mod:`ferry.push.pusher`).

Exit codes: 0 when every file is pushed or held already; 7 when a registry holds a file of
the same name with other bytes (never overwritten); 6 when an upload failed or a delta
bundle's file is not there; 7 too for a bundle that does not hold (nothing is sent).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ferry.cli.progress import PhaseBars
from ferry.errors import ExitCode, UsageError
from ferry.units import human_bytes

if TYPE_CHECKING:
    from ferry.push.pusher import PushReport

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def push_command(
    bundle: Annotated[Path, typer.Argument(help="A bundle archive made by ferry bundle.")],
    to: Annotated[
        list[str],
        typer.Option(
            "--to",
            help="The registry's URL (repeatable: a Python index and an npm registry).",
        ),
    ],
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="devpi, verdaccio, nexus, artifactory, or a plain pypi / npm registry. "
            "Default: from the URL's path.",
        ),
    ] = None,
    ecosystem: Annotated[
        str | None,
        typer.Option("--ecosystem", help="pypi or npm, for a Nexus repository."),
    ] = None,
    index_url: Annotated[
        str | None,
        typer.Option(
            "--index-url", help="Python: the simple index to read back, if not the usual."
        ),
    ] = None,
    repository: Annotated[
        str | None, typer.Option("--repository", "-r", help="Python: the .pypirc section to use.")
    ] = None,
    username: Annotated[
        str | None,
        typer.Option("--username", "-u", help="Python: the user (password: TWINE_PASSWORD)."),
    ] = None,
    cert: Annotated[
        Path | None, typer.Option("--cert", help="CA bundle for the registry's certificate.")
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, max=32, help="Parallel projects.")
    ] = 4,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read what the registries hold; send nothing.")
    ] = False,
    work_dir: Annotated[
        Path | None,
        typer.Option("--work-dir", help="Where the bundle's files are unpacked while pushing."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Push a bundle's packages into registries you already run, skipping what they hold."""
    from ferry.push.targets import KINDS
    from ferry.settings import load_settings

    if not bundle.is_file():
        raise UsageError(f"{bundle}: no such file")
    if cert is not None and not cert.is_file():
        raise UsageError(f"--cert {cert}: no such file")
    if work_dir is not None and not work_dir.is_dir():
        raise UsageError(f"--work-dir {work_dir}: no such directory")
    settings = load_settings(config)
    if kind is not None and kind not in KINDS:
        raise UsageError(f"--kind {kind}: one of {', '.join(KINDS)}")
    show = not as_json and err.is_terminal
    with PhaseBars(bundle.name, show, err) as progress:
        report = asyncio.run(
            _push(
                bundle,
                to,
                kind=kind,
                ecosystem=ecosystem,
                index_url=index_url,
                repository=repository,
                username=username,
                cert=cert,
                jobs=jobs,
                dry_run=dry_run,
                work_dir=work_dir,
                max_bytes=settings.import_max_bytes,
                progress=progress,
            )
        )
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        _print(report)
    if report.count("conflict"):
        raise typer.Exit(int(ExitCode.INTEGRITY))
    if not report.ok:
        raise typer.Exit(int(ExitCode.NETWORK))


def _ecosystems(bundle: Path) -> set[str]:
    """Which ecosystems the bundle carries, from its member names (cheap for a zip; for a
    tar, the verified read later is the real check and this only guides --to)."""
    import zipfile

    if bundle.name.endswith(".zip") and zipfile.is_zipfile(bundle):
        with zipfile.ZipFile(bundle) as zf:
            names = zf.namelist()
        found = set()
        if any("/python-packages/" in n for n in names):
            found.add("pypi")
        if any("/npm-packages/" in n and n.endswith(".tgz") for n in names):
            found.add("npm")
        return found
    return {"pypi", "npm"}


async def _push(
    bundle: Path,
    urls: list[str],
    *,
    kind: str | None,
    ecosystem: str | None,
    index_url: str | None,
    repository: str | None,
    username: str | None,
    cert: Path | None,
    jobs: int,
    dry_run: bool,
    work_dir: Path | None,
    max_bytes: int,
    progress: PhaseBars,
) -> PushReport:
    import httpx

    from ferry.push.credentials import npm_authorization, pypi_credentials
    from ferry.push.pusher import push_bundle
    from ferry.push.targets import KINDS, kind_from_path, probe_kind, push_target

    timeout = httpx.Timeout(300.0, connect=30.0)
    verify: str | bool = str(cert) if cert is not None else True
    # trust_env: the machine's proxy variables and SSL_CERT_FILE, as twine and npm take them
    async with httpx.AsyncClient(timeout=timeout, verify=verify, trust_env=True) as client:
        carried = _ecosystems(bundle)
        targets = []
        for url in urls:
            chosen = kind or kind_from_path(url) or await probe_kind(client, url)
            if chosen is None:
                raise UsageError(
                    f"--to {url}: nothing there answers like a registry Ferry knows; "
                    f"say which it is with --kind ({', '.join(KINDS)})"
                )
            targets.append(push_target(url, chosen, ecosystem, carried, index_url))
        seen = [t.ecosystem for t in targets]
        if len(set(seen)) != len(seen):
            raise UsageError("--to: one Python index and one npm registry at most per push")
        return await push_bundle(
            bundle,
            targets,
            client=client,
            pypi_auth=lambda t: pypi_credentials(t, repository=repository, username=username),
            npm_auth=lambda t: npm_authorization(t.url, t),
            work_dir=work_dir,
            max_bytes=max_bytes,
            jobs=jobs,
            dry_run=dry_run,
            progress=progress,
        )


def _print(report: PushReport) -> None:
    for status in ("conflict", "failed", "missing"):
        for o in report.outcomes:
            if o.status == status:
                out.print(f"{status:9} {o.filename}: {o.detail}", highlight=False)
    for target in report.targets:
        mine = [o for o in report.outcomes if o.target == target]
        counts = ", ".join(
            f"{n} {s}"
            for s in ("pushed", "held", "would-push", "conflict", "failed", "missing")
            if (n := sum(1 for o in mine if o.status == s))
        )
        sent = sum(o.size for o in mine if o.status == "pushed")
        out.print(
            f"{target}: {counts or 'nothing to push'} ({human_bytes(sent)} sent)",
            highlight=False,
        )
    out.print(f"{report.bundle}: done in {report.seconds:.1f} s", highlight=False)
    for ecosystem, n in report.unpushed.items():
        what = "Python files" if ecosystem == "pypi" else "npm tarballs"
        out.print(f"not pushed: {n} {what} (no --to for {ecosystem})", highlight=False)
