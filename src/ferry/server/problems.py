"""Every error answer is an RFC 9457 problem document (``application/problem+json``)
carrying Ferry's stable ``code`` and the ``params`` its message was made of
(:mod:`ferry.texts`): FerryErrors, request validation failures, unknown paths, wrong
methods (with a correct ``Allow``). Installed on the app in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ferry.errors import FerryError
from ferry.server.schemas import ProblemDocument
from ferry.texts import Params, error_text

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_RESERVED = ("type", "title", "status", "code", "message", "params")
_DESCRIPTIONS = {
    400: "The request is not usable (bad options, no files, a name that is no manifest).",
    401: "No token, or one that is unknown, revoked or expired.",
    403: "The token's role does not allow this.",
    404: "No such task (it may have expired, been deleted, or belong to someone else).",
    409: "The task's status does not allow this now.",
    413: "An upload, or the whole request, is over the size limit.",
    415: "An upload is not a text manifest Ferry knows.",
    422: "A parameter or field is not valid.",
    429: "A quota of this token is used up.",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that answers these statuses with a problem document."""
    return {s: {"model": ProblemDocument, "description": _DESCRIPTIONS[s]} for s in statuses}


def problem(
    http_status: int,
    code: str,
    message: str,
    *,
    params: Params,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem document; an error's own field that clashes with one of the
    standard members (a task's ``status``) is kept under ``task_<name>``."""
    body: dict[str, Any] = {
        "type": f"urn:ferry:{code}",
        "title": message,
        "status": http_status,
        "code": code,
        "message": message,
        "params": params,
    }
    for key, value in extra.items():
        body[f"task_{key}" if key in _RESERVED else key] = value
    return JSONResponse(body, status_code=http_status, media_type=PROBLEM_JSON, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(FerryError)
    async def ferry_error(_request: Request, exc: FerryError) -> JSONResponse:
        extra = {k: v for k, v in exc.to_dict().items() if k not in ("code", "message", "params")}
        headers = getattr(exc, "headers", None)
        return problem(
            exc.http_status, exc.code, exc.message, params=exc.params, headers=headers, **extra
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "request"
        params = {"where": where, "reason": str(first.get("msg"))}
        return _said(422, "request-invalid", params, reason=where)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            from ferry.server.methods import allowed, methods_by_path

            index = getattr(app.state, "methods_index", None)
            if index is None:
                index = app.state.methods_index = methods_by_path(app.openapi())
            # a path the schema does not describe is one of the UI's or docs' files
            allow = ", ".join(allowed(index, request.url.path) or ["GET", "HEAD"])
            return _said(
                405,
                "method-not-allowed",
                {"method": request.method, "allow": allow},
                headers={"Allow": allow},
            )
        if exc.status_code == 404:
            return _said(404, "not-found", {"path": request.url.path[:200]})
        code = f"http-{exc.status_code}"
        headers = dict(exc.headers) if exc.headers else None
        detail = str(exc.detail)
        return problem(exc.status_code, code, detail, params={"detail": detail}, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug: logged with its traceback here, never shown to the caller.
        log.exception("%s %s failed", request.method, request.url.path)
        return _said(500, "internal-error", {})


def _said(
    http_status: int,
    code: str,
    params: Params,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem document whose message is made from the code's template."""
    message = error_text(code, params)
    return problem(http_status, code, message, params=params, headers=headers, **extra)
