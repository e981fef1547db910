"""What the service needs before its first request: an admin token and a signing key.

On the very first start (no token in the database at all) ``ferry serve`` makes an admin
token, writes it to ``<data_dir>/admin-token`` readable by the service's user alone, and
prints it once, as Jupyter does. Later starts only say where that file is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ferry.auth.roles import Role
from ferry.auth.tokens import hash_token, new_token
from ferry.db.tokens import TokenRepository

ADMIN_TOKEN_FILE = "admin-token"
SECRET_KEY_FILE = "secret-key"


def write_private(path: Path, text: str, *, replace: bool = True) -> None:
    """Create ``path`` with mode 0600 from the start (never briefly world-readable).

    ``replace=False``: FileExistsError when another process wrote it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            tmp.replace(path)
        else:
            path.hardlink_to(tmp)  # fails if it exists: the first writer wins
    finally:
        tmp.unlink(missing_ok=True)


def ensure_admin_token(tokens: TokenRepository, data_dir: Path) -> str | None:
    """The new admin token when this is the first start, else None."""
    if tokens.count() > 0:
        return None
    token = new_token()
    tokens.create(
        name="admin (first start)",
        owner="admin",
        role=Role.ADMIN,
        token_hash=hash_token(token),
        created_by="ferry serve",
    )
    write_private(data_dir / ADMIN_TOKEN_FILE, token + "\n")
    return token


def secret_key(data_dir: Path, configured: str | None) -> bytes:
    """The key that signs archive links: the ``secret_key`` setting (several replicas
    must share one), else a random key kept in the data directory."""
    if configured:
        return configured.encode()
    path = data_dir / SECRET_KEY_FILE
    try:
        return path.read_text().strip().encode()
    except FileNotFoundError:
        pass
    # two replicas starting at once: the first key stands
    with contextlib.suppress(FileExistsError):
        write_private(path, secrets.token_hex(32) + "\n", replace=False)
    return path.read_text().strip().encode()
