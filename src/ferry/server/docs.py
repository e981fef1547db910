"""``/docs``: Swagger UI served by Ferry itself, so it works with no internet (FastAPI's
default page loads it from a CDN, and is blank behind an air gap); ``/openapi.json``.

The files come from the ``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI
3.1); the page is written here with no inline script, so it runs under the same
Content-Security-Policy as everything else. The page and its files are static, like the
UI's; the schema is an API route and needs a token (read). The page takes the token the
web UI signed in with (same origin, ``localStorage``) for the schema and for every
operation tried from it, or says to sign in first.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from ferry.server.deps import Reader, router

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Ferry API</title>
<link rel="icon" href="/docs/static/favicon.png">
<link rel="stylesheet" href="/docs/static/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

_INIT = """(function () {
  var token = null;
  try { token = window.localStorage.getItem('ferry.token'); } catch (e) { token = null; }
  if (!token) {
    var box = document.getElementById('swagger-ui');
    var text = document.createElement('p');
    text.id = 'sign-in-first';
    text.style.font = '16px sans-serif';
    text.style.margin = '48px';
    text.appendChild(document.createTextNode('The API documentation needs a token: '));
    var link = document.createElement('a');
    link.href = '/';
    link.textContent = 'sign in to Ferry first';
    text.appendChild(link);
    text.appendChild(document.createTextNode(', then come back.'));
    box.appendChild(text);
    return;
  }
  window.ui = SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    layout: 'BaseLayout',
    deepLinking: true,
    persistAuthorization: false,
    requestInterceptor: function (request) {
      request.headers['Authorization'] = 'Bearer ' + token;
      return request;
    },
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""


def _static_dir() -> Path:
    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


def add_docs(app: FastAPI) -> None:
    app.mount("/docs/static", StaticFiles(directory=_static_dir()), name="docs-static")
    schema = router(tags=["service"])

    @schema.get("/openapi.json", include_in_schema=False)
    async def openapi(who: Reader) -> JSONResponse:
        return JSONResponse(app.openapi())

    app.include_router(schema)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_PAGE)

    @app.get("/docs/init.js", include_in_schema=False)
    async def init() -> Response:
        return Response(_INIT, media_type="text/javascript")
