"""Ferry reaches its HTTP clients (httpx, httpcore, aiohttp) through their public API only.

A private attribute can be renamed by any release, and the one patched before
(``client._transport._pool._network_backend``) carried the egress policy's address check:
renamed, it would have dropped the check. This reads every module's syntax tree, so a
new reach into a client's internals fails here rather than in production.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpcore
import httpx

import ferry

SOURCE = Path(ferry.__file__).parent
CLIENT_PACKAGES = ("httpx", "httpcore", "aiohttp", "h11", "h2", "anyio")
# what the old patch reached, plus the names httpx's own pool and mounts live under
KNOWN = {"_transport", "_pool", "_network_backend", "_mounts", "_connections", "_connector"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


async def _client_private_names() -> set[str]:
    """Private attribute names of the clients' objects as this environment builds them."""
    objects: list[object] = [
        httpx.AsyncClient(),
        httpx.AsyncHTTPTransport(),
        httpx.AsyncHTTPTransport(proxy="http://proxy.example:3128"),
        httpcore.AsyncConnectionPool(),
        httpcore.AnyIOBackend(),
    ]
    session = aiohttp.ClientSession()
    objects += [session, session.connector]
    names = set(KNOWN)
    for obj in objects:
        names |= {n for n in dir(obj) if _private(n)}
        names |= {n for n in getattr(obj, "__dict__", {}) if _private(n)}
    await session.close()
    return names


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SOURCE.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _reaches(tree: ast.Module, names: set[str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in names:
            # an object's own attributes are its own business, whatever their name
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                yield node.lineno, ast.unparse(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in names
        ):
            yield node.lineno, ast.unparse(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules.append(node.module)
                modules += [f"{node.module}.{a.name}" for a in node.names]
            for module in modules:
                top, *rest = module.split(".")
                if top in CLIENT_PACKAGES and any(_private(part) for part in rest):
                    yield node.lineno, f"import {module}"
                    break


async def test_no_module_reaches_into_the_http_clients() -> None:
    names = await _client_private_names()
    assert {"_transport", "_network_backend"} <= names  # the walk sees what it must
    found = [
        f"{path.relative_to(SOURCE.parent)}:{line}: {text}"
        for path, tree in _modules()
        for line, text in _reaches(tree, names)
    ]
    assert found == []


def test_the_check_catches_the_old_patch() -> None:
    old = ast.parse(
        "pool = getattr(getattr(client, '_transport', None), '_pool', None)\n"
        "pool._network_backend = backend\n"
        "from httpx._transports.default import AsyncHTTPTransport\n"
        "self._pool = SlotPool()\n"
    )
    assert sorted(line for line, _ in _reaches(old, KNOWN)) == [1, 1, 2, 3]
