"""Tokens for tests of the service: made straight in the app's token repository."""

from __future__ import annotations

from fastapi import FastAPI

from ferry.auth.principal import Quotas
from ferry.auth.roles import Role
from ferry.auth.tokens import hash_token, new_token


def issue(
    app: FastAPI,
    role: str = "admin",
    owner: str = "tester",
    *,
    quotas: Quotas | None = None,
) -> str:
    """A new token on a started app (inside its lifespan)."""
    token = new_token()
    app.state.tokens.create(
        name=f"{owner}-{role}",
        owner=owner,
        role=Role(role),
        token_hash=hash_token(token),
        created_by="tests",
        quotas=quotas,
    )
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
