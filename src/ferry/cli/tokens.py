"""``ferry token``: make, list and revoke the bearer tokens of a Ferry service.

Two ways to reach the tokens, like the server they belong to:
- on a data directory (``--data-dir``, ``--config``, ``FERRY_DATABASE_URL``: whatever
  ``ferry serve`` would use), straight to its database; for the operator on that machine;
- against a running server (``--server URL`` with an admin ``--token``, or
  ``FERRY_SERVER`` / ``FERRY_TOKEN``), through its admin API.

A new token is printed once, on standard output alone (scripts capture it); only its hash
is kept.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from ferry.errors import FerryError, FetchError, NotAllowed, NotAuthenticated, UsageError

token_app = typer.Typer(
    help="Make, list and revoke the service's bearer tokens.", no_args_is_help=True
)
err = Console(stderr=True, soft_wrap=True)

ServerOpt = Annotated[
    str | None,
    typer.Option("--server", envvar="FERRY_SERVER", help="A running server's URL."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar="FERRY_TOKEN", help="An admin token for --server."),
]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Settings file (TOML).")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="The server's data dir.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


@token_app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. 'ci'.")],
    role: Annotated[str, typer.Option("--role", help="read, write or admin.")],
    owner: Annotated[
        str | None, typer.Option("--owner", help="Whose tasks it works on (default: name).")
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="Lifetime: 12h, 30d, 2w… (default: none).")
    ] = None,
    max_active_tasks: Annotated[
        int | None, typer.Option("--max-active-tasks", min=1, help="Tasks queued or at work.")
    ] = None,
    max_tasks_per_hour: Annotated[
        int | None, typer.Option("--max-tasks-per-hour", min=1, help="Tasks created per hour.")
    ] = None,
    max_disk: Annotated[
        str | None, typer.Option("--max-disk", help="Archive bytes kept, e.g. 50G.")
    ] = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Make a token; it is printed once and never again."""
    from ferry.auth.roles import Role

    if role not in {str(r) for r in Role}:
        raise UsageError(f"role {role!r} is not read, write or admin")
    body: dict[str, Any] = {
        "name": name,
        "role": role,
        "owner": owner,
        "expires": expires,
        "max_active_tasks": max_active_tasks,
        "max_tasks_per_hour": max_tasks_per_hour,
        "max_disk_bytes": _bytes(max_disk) if max_disk else None,
    }
    if server:
        doc = _remote(server, token, "POST", "/api/tokens", json_body=body)
    else:
        doc = _local_create(config, data_dir, body)
    if as_json:
        _print_json(doc)
        return
    sys.stdout.write(doc["token"] + "\n")
    sys.stdout.flush()
    expiry = f", expires {doc['expires_at']}" if doc.get("expires_at") else ""
    err.print(
        f"token {doc['id']} ({doc['name']}, owner {doc['owner']}, role {doc['role']}{expiry}); "
        "it is shown only this once",
        highlight=False,
    )


@token_app.command("list")
def list_tokens(
    revoked: Annotated[bool, typer.Option("--revoked", help="Include revoked tokens.")] = False,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """The tokens there are: name, owner, role, created, last used, expiry. Never the
    token itself."""
    if server:
        path = "/api/tokens" + ("?revoked=true" if revoked else "")
        docs = _remote(server, token, "GET", path)["tokens"]
    else:
        with _local(config, data_dir) as (tokens, _audit):
            docs = [r.to_dict() for r in tokens.list(include_revoked=revoked)]
    if as_json:
        _print_json(docs)
        return
    table = Table("id", "name", "owner", "role", "created", "last used", "expires", box=None)
    for d in docs:
        expiry = "revoked" if d.get("revoked_at") else _day(d.get("expires_at")) or "never"
        table.add_row(
            d["id"],
            d["name"],
            d["owner"],
            d["role"],
            _day(d["created_at"]),
            _day(d.get("last_used_at")) or "never",
            expiry,
        )
    Console(soft_wrap=True).print(table)


@token_app.command("revoke")
def revoke(
    id_or_name: Annotated[str, typer.Argument(help="The token's id (or its unique name).")],
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    token: TokenOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke a token: it stops working (on a running server within seconds)."""
    if server:
        target = id_or_name
        if not _is_token_id(target):
            found = [
                d
                for d in _remote(server, token, "GET", "/api/tokens")["tokens"]
                if d["name"] == target
            ]
            if len(found) != 1:
                raise UsageError(
                    f"{len(found)} unrevoked tokens are named {target!r}",
                    hint="Revoke by id (`ferry token list`).",
                )
            target = found[0]["id"]
        _remote(server, token, "DELETE", f"/api/tokens/{target}")
        doc: dict[str, Any] = {"id": target, "revoked": True}
    else:
        from ferry.services.tokens import revoke_token

        with _local(config, data_dir) as (tokens, audit):
            record = revoke_token(tokens, audit, _cli_actor(), id_or_name)
        doc = {"id": record.id, "name": record.name, "revoked": True}
    if as_json:
        _print_json(doc)
    else:
        err.print(f"revoked token {doc['id']}", highlight=False)


# ---- on a data directory -------------------------------------------------------------------


@contextmanager
def _local(config: Path | None, data_dir: Path | None) -> Iterator[tuple[Any, Any]]:
    from ferry.db.audit import AuditLog
    from ferry.db.engine import make_engine, make_sessionmaker, upgrade
    from ferry.db.tokens import TokenRepository
    from ferry.settings import load_settings

    settings = load_settings(config, data_dir=data_dir)
    engine = make_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        yield TokenRepository(sessions), AuditLog(sessions)
    finally:
        engine.dispose()


def _local_create(config: Path | None, data_dir: Path | None, body: dict[str, Any]) -> Any:
    from ferry.auth.principal import Quotas
    from ferry.auth.roles import Role
    from ferry.auth.tokens import parse_duration
    from ferry.services.tokens import create_token

    lifetime = parse_duration(body["expires"]) if body["expires"] else None
    quotas = Quotas(body["max_active_tasks"], body["max_tasks_per_hour"], body["max_disk_bytes"])
    with _local(config, data_dir) as (tokens, audit):
        issued = create_token(
            tokens,
            audit,
            _cli_actor(),
            name=body["name"],
            role=Role(body["role"]),
            owner=body["owner"],
            lifetime=lifetime,
            quotas=quotas,
        )
    return {**issued.record.to_dict(), "token": issued.token}


def _cli_actor() -> Any:
    from ferry.services.tokens import Actor

    try:
        user = getpass.getuser()
    except Exception:  # no name for this uid (a container): the uid will do
        user = "uid-unknown"
    return Actor(f"cli:{user}"[:100], None, "local")


# ---- against a running server ----------------------------------------------------------


def _remote(
    server: str, token: str | None, method: str, path: str, *, json_body: Any = None
) -> Any:
    import httpx

    if not token:
        raise NotAuthenticated(
            "--server needs an admin --token (or FERRY_TOKEN)",
            hint="The first start of `ferry serve` wrote one to <data dir>/admin-token.",
        )
    url = server.rstrip("/") + path
    try:
        response = httpx.request(
            method,
            url,
            json=json_body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.HTTPError as exc:
        raise FetchError(f"could not reach {server}: {exc}") from exc
    if response.status_code >= 400:
        try:
            message = str(response.json().get("message"))
        except (ValueError, AttributeError):
            message = response.text[:300]
        text = f"{server} answered {response.status_code}: {message}"
        kind: type[FerryError] = {401: NotAuthenticated, 403: NotAllowed}.get(
            response.status_code, FetchError if response.status_code >= 500 else UsageError
        )
        raise kind(text)
    return response.json() if response.content else {}


# ---- small helpers -----------------------------------------------------------------------


def _bytes(text: str) -> int:
    from ferry.fetch.ratelimit import parse_rate

    try:
        value = parse_rate(text)
    except Exception as exc:
        raise UsageError(f"--max-disk {text!r} is not a size", hint="e.g. 500M, 20G") from exc
    if not value:
        raise UsageError(f"--max-disk {text!r} is not a size", hint="e.g. 500M, 20G")
    return value


def _is_token_id(text: str) -> bool:
    return len(text) == 16 and all(c in "0123456789abcdef" for c in text)


def _day(value: str | None) -> str:
    return value[:16].replace("T", " ") if value else ""


def _print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    sys.stdout.flush()
