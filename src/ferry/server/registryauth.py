"""Who reads the registries, asked the way their clients answer.

pip and uv send HTTP Basic: credentials from the index URL (``https://user:TOKEN@host/``),
or from netrc or a keyring after a ``401`` with a Basic challenge; npm sends
``Authorization: Bearer`` from ``_authToken`` in .npmrc. A Ferry token with the read role is
accepted in any of those places: as the Basic password, or as the Basic user name with no
password (``https://TOKEN@host/``, the form some CI systems write). With
``registry_anonymous_read`` the registries are open to read without a token.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from ferry.auth.authenticator import Authenticator
from ferry.auth.principal import LOCAL_ADMIN, Principal
from ferry.auth.roles import Role
from ferry.errors import Hint, NotAllowed, NotAuthenticated

__all__ = ["RegistryAuthRequired", "registry_reader"]


class RegistryAuthRequired(NotAuthenticated):
    # a Basic challenge: it is what makes pip and uv look in netrc and keyrings
    headers = {"WWW-Authenticate": 'Basic realm="ferry"'}  # noqa: RUF012 - read only


async def registry_reader(request: Request) -> Principal | None:
    """The principal reading, None for an anonymous reader where that is allowed."""
    settings = request.app.state.settings
    if settings.no_auth:
        return LOCAL_ADMIN
    token = _token(request.headers.get("authorization"))
    if token is None:
        if settings.registry_anonymous_read:
            return None
        raise RegistryAuthRequired(params={}, hint=Hint("send-token"))
    auth: Authenticator = request.app.state.auth
    principal = await auth.authenticate(token)
    if principal is None:
        raise RegistryAuthRequired(params={"token": "refused"}, hint=Hint("new-token"))
    if not principal.role.allows(Role.READ):
        raise NotAllowed(params={"role": Role.READ, "has": principal.role})
    return principal


def _token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        return password or user or None
    return None
