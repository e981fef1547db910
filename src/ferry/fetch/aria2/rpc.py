"""A thin async JSON-RPC 2.0 client for aria2's RPC interface, over httpx.

aria2 checks a secret token on every ``aria2.*`` call (the first parameter,
``token:<secret>``); ``system.*`` calls carry none themselves, and ``system.multicall``
takes the token inside each of its calls. Every error surfaces as a
:class:`~ferry.errors.FetchError` naming the method: :class:`RPCUnavailable` when aria2
did not answer at all (not running, or hung), :class:`RPCError` when it answered with an
error (an unknown GID, a wrong secret).

Written here rather than taken from aria2p, which is synchronous: each of its calls would
block the event loop, or need a thread per call, while the engine polls many downloads a
few times a second.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import httpx

from ferry.errors import FetchError, Hint

__all__ = ["Aria2RPC", "RPCError", "RPCUnavailable"]

_HINT = Hint("aria2-log")


class RPCError(FetchError):
    """aria2 answered a call with an error."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(
            f"aria2 refused {method}: {message} (code {code})",
            context=f"calling aria2 ({method})",
            hint=_HINT,
        )
        self.method = method
        self.rpc_code = code
        self.reason = message


class RPCUnavailable(FetchError):
    """aria2 did not answer: it is not running, not listening yet, or hung."""


class Aria2RPC:
    """Calls one aria2 daemon at ``url`` (``http://127.0.0.1:<port>/jsonrpc``)."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._token = f"token:{secret}"
        # trust_env off: the daemon is on 127.0.0.1, and a proxy variable must not reroute it.
        self._client = httpx.AsyncClient(timeout=timeout, trust_env=False, transport=transport)
        self._ids = itertools.count(1)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` with ``params`` (the secret token is added) and return its result."""
        args = list(params) if method.startswith("system.") else [self._token, *params]
        answer = await self._post(method, args)
        error = answer.get("error")
        if error is not None:
            raise _rpc_error(method, error)
        return answer.get("result")

    async def multicall(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """Several calls in one request; each entry is a result or an :class:`RPCError`.

        A failure of the request as a whole (aria2 gone, a wrong secret) is raised instead.
        """
        if not calls:
            return []
        methods = [
            {"methodName": method, "params": [self._token, *params]} for method, params in calls
        ]
        results = await self.call("system.multicall", methods)
        if not isinstance(results, list) or len(results) != len(calls):
            raise RPCError("system.multicall", -1, f"unexpected answer {results!r:.200}")
        out: list[Any] = []
        for (method, _), result in zip(calls, results, strict=True):
            if isinstance(result, list) and len(result) == 1:
                out.append(result[0])
            elif isinstance(result, dict) and "code" in result:
                out.append(_rpc_error(method, result))
            else:
                out.append(RPCError(method, -1, f"unexpected answer {result!r:.200}"))
        return out

    async def _post(self, method: str, params: list[Any]) -> dict[str, Any]:
        payload = {"jsonrpc": "2.0", "id": str(next(self._ids)), "method": method, "params": params}
        try:
            response = await self._client.post(self.url, json=payload)
        except httpx.HTTPError as exc:
            raise RPCUnavailable(
                f"aria2 did not answer {method} at {self.url}: {exc or type(exc).__name__}",
                context=f"calling aria2 ({method})",
                hint=_HINT,
            ) from exc
        # aria2 answers errors with HTTP 400 and a JSON-RPC error body; read the body first.
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RPCError(
                method, -1, f"HTTP {response.status_code} without a JSON-RPC answer"
            ) from None
        return answer


def _rpc_error(method: str, error: Any) -> RPCError:
    if isinstance(error, dict):
        code = error.get("code", -1)
        return RPCError(method, code if isinstance(code, int) else -1, str(error.get("message")))
    return RPCError(method, -1, str(error))
