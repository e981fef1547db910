"""``/docs``: Swagger UI served by Ferry itself, so it works with no internet (FastAPI's
default page loads it from a CDN, and is blank behind an air gap).

The files come from the ``fastapi-offline`` package (Swagger UI 5, which reads OpenAPI
3.1); the page is written here with no inline script, so it runs under the same
Content-Security-Policy as everything else. The page and the schema carry no data, like
the UI's own files, and need no token; every operation tried from the page does ("Authorize").
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

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

_INIT = """window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  layout: 'BaseLayout',
  deepLinking: true,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def _static_dir() -> Path:
    return Path(str(importlib.resources.files("fastapi_offline") / "static"))


def add_docs(app: FastAPI) -> None:
    app.mount("/docs/static", StaticFiles(directory=_static_dir()), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(_PAGE)

    @app.get("/docs/init.js", include_in_schema=False)
    async def init() -> Response:
        return Response(_INIT, media_type="text/javascript")
