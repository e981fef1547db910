"""The Ferry service: `create_app(settings)` builds everything from the settings given.

Routes live in ``ferry.server.routes``, one module per resource, each router built by
``ferry.server.deps.router`` so that every route needs a token; ``/health``, ``/docs`` and
the UI's files are the only exceptions. Every error is a problem document
(``ferry.server.problems``). Every answer is declared with its model
(``ferry.server.schemas``), and the WebSocket's message model is added to the schema's
components, so the web UI's types are all generated from ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, TypeAdapter

from ferry import __version__
from ferry.auth.authenticator import Authenticator
from ferry.auth.bootstrap import secret_key
from ferry.db.audit import AuditLog
from ferry.db.tokens import TokenRepository
from ferry.db.torrents import TorrentRepository
from ferry.errors import ConfigError
from ferry.jobs.broker import queued_jobs
from ferry.jobs.relay import Relay
from ferry.p2p.maker import TorrentMaker
from ferry.parts import Parts, open_parts
from ferry.server import problems
from ferry.server.docs import add_docs
from ferry.server.limits import BodyLimit
from ferry.server.methods import HeadAsGet
from ferry.server.routes.archive import archive
from ferry.server.routes.audit import audit
from ferry.server.routes.browse import browse
from ferry.server.routes.hub import hub as model_hub
from ferry.server.routes.imports import PREFIX as IMPORTS_PATH
from ferry.server.routes.imports import imports
from ferry.server.routes.manifests import manifests
from ferry.server.routes.npmregistry import npm
from ferry.server.routes.packages import PREFIX as PACKAGES_PATH
from ferry.server.routes.packages import package_files, packages
from ferry.server.routes.service import metrics, public, registries
from ferry.server.routes.simple import simple
from ferry.server.routes.tasks import tasks
from ferry.server.routes.tokens import tokens
from ferry.server.routes.torrents import torrents as p2p_torrents
from ferry.server.routes.torrents import tracker as p2p_tracker
from ferry.server.schemas import SOCKET_MODELS, ProblemDocument
from ferry.server.security import Guard, is_loopback_host
from ferry.server.ws import add_websocket_routes
from ferry.services.cache import trim_cache
from ferry.services.confinement import service_box
from ferry.settings import Settings
from ferry.store.blob import BlobKey
from ferry.store.kept import KeptStore
from ferry.store.packages import PackageStore
from ferry.tasks.events import EventHub, TaskEvent
from ferry.tasks.manager import TaskManager

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, config_file: Path | None = None) -> FastAPI:
    if settings.no_auth and not is_loopback_host(settings.host):
        raise ConfigError(
            f"no_auth is refused on {settings.host}: only a loopback address may be served "
            "without tokens",
            hint="Listen on 127.0.0.1, or drop --no-auth and use `ferry token create`.",
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_parts(settings) as parts, _serving(app, parts):
            yield

    @asynccontextmanager
    async def _serving(app: FastAPI, parts: Parts) -> AsyncIterator[None]:
        sessions, db, kept = parts.sessions, parts.db, parts.kept
        app.state.tokens = TokenRepository(sessions)
        app.state.audit = AuditLog(sessions)
        app.state.auth = Authenticator(app.state.tokens, run=db, write=db.write)
        hub = EventHub()
        app.state.hub = hub
        # with workers: this replica's own events go out through Redis like theirs, and
        # its watchers are fed from Redis alone (each event once, whoever sent it)
        relay = _relay(settings, hub)
        jobs = queued_jobs(settings, relay) if relay is not None else None
        # models and datasets (routes/hub.py), their torrents and tracker (routes/torrents.py)
        app.state.catalog = parts.catalog
        app.state.torrents = TorrentRepository(sessions)
        app.state.torrent_maker = TorrentMaker(
            app.state.torrents, parts.blobs, db, settings.torrent_min_size
        )
        # the far side's registries (routes/simple.py) read the imported files' rows
        app.state.artifacts = parts.artifacts
        app.state.kept_db = db
        manager = TaskManager(
            settings,
            parts.tasks,
            hub=hub if relay is None else EventHub(relay=relay.event),
            link_key=secret_key(settings.data_dir, settings.secret_key),
            box=await service_box(settings, config_file),
            db=db,
            kept=kept,
            jobs=jobs,
            shared_bucket=parts.shared,
        )
        app.state.manager = manager
        app.state.kept = kept
        app.state.packages = PackageStore(kept.packages, kept, db)
        # expired tasks go before recovery resumes any; a crash mid-upload left no row
        # (rows follow blobs) but may have left bytes
        sweep = _Sweep(manager, kept, settings, app.state.torrents)
        await sweep.once()
        await manager.recover()
        cleaner = asyncio.create_task(sweep.periodically(settings.cleanup_interval))
        try:
            yield
        finally:
            cleaner.cancel()
            await asyncio.gather(cleaner, return_exceptions=True)
            await app.state.torrent_maker.close()
            await manager.close()
            if relay is not None:
                await relay.aclose()
            hub.close()

    if settings.task_queue and not settings.secret_key:
        raise ConfigError(
            "task_queue is set but secret_key is not: every replica must sign archive links "
            "with the same key",
            hint="Set FERRY_SECRET_KEY (e.g. `openssl rand -hex 32`) to one value on every "
            "replica and worker.",
        )

    app = FastAPI(
        title="Ferry",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # served by server/docs.py, behind a token
        description="Bundle tasks: upload manifests, look at the tree, download "
        "everything verified, take one archive that installs offline. Every operation "
        "but /health needs `Authorization: Bearer <token>` (`ferry token create`).",
    )
    app.state.settings = settings

    # a whole request may carry a few manifests at the per-file limit, plus form overhead
    # a package's file streams into the blob store: its own limit, plus the form's fields
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.upload_max_bytes * 8 + 64 * 1024,
        paths={
            PACKAGES_PATH: settings.package_max_bytes + 64 * 1024,
            IMPORTS_PATH: settings.import_upload_max_bytes,
            # a model's or dataset's files, one per request (routes/hub.py)
            "/api/models/": settings.package_max_bytes,
            "/api/datasets/": settings.package_max_bytes,
        },
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,  # tokens travel in headers, never in cookies
        )
    app.add_middleware(HeadAsGet)
    app.add_middleware(Guard, cors_origins=settings.cors_origins, loopback_only=settings.no_auth)
    problems.install(app)

    routers = (
        public,
        metrics,
        registries,
        tasks,
        manifests,
        archive,
        tokens,
        audit,
        packages,
        package_files,
        simple,
        npm,
        imports,
        browse,
        model_hub,
        p2p_torrents,
        p2p_tracker,
    )
    for router in routers:
        app.include_router(router)
    add_websocket_routes(app)
    add_docs(app)
    _publish_socket_models(app)
    _mount_ui(app, settings)
    return app


def _ui_dir(settings: Settings) -> Path | None:
    """The built web UI: `ui_dir` in the settings, else web/dist of a source checkout."""
    if settings.ui_dir is not None:
        return settings.ui_dir
    checkout = Path(__file__).resolve().parents[3] / "web" / "dist"
    return checkout if (checkout / "index.html").is_file() else None


def _mount_ui(app: FastAPI, settings: Settings) -> None:
    ui = _ui_dir(settings)
    if ui is not None and (ui / "index.html").is_file():
        # mounted last: /api, /ws, /docs, /health and /metrics keep their routes
        app.mount("/", StaticFiles(directory=ui, html=True), name="ui")
        return

    @app.get("/", include_in_schema=False)
    async def no_ui() -> HTMLResponse:
        return HTMLResponse(
            "<!doctype html><title>Ferry</title><p>The web UI is not built here: run "
            "<code>scripts/start.sh</code> (it builds <code>web/</code>), or use the API at "
            "<a href='/docs'>/docs</a>.</p>"
        )


def _relay(settings: Settings, hub: EventHub) -> Relay | None:
    if not settings.task_queue:
        return None
    relay = Relay(settings.task_queue, settings.task_queue_prefix)
    relay.start()

    def received(task_id: str, event: TaskEvent | None) -> None:
        if event is None:
            hub.forget(task_id)
        else:
            hub.publish(task_id, event)

    relay.listen(on_event=received)
    return relay


class _Sweep:
    """What the service removes on its own: expired tasks (and, with workers, what it sends
    again: steps of tasks nobody holds that the queue lost); files uploaded for model
    versions never published (after ``model_upload_max_age``); what interrupted uploads
    left in the kept store, and blobs no row names any more (both older than
    ``blob_staging_max_age``, so that another process's upload under way is never
    touched); the cache's least recently used files past ``cache_max_bytes``; tracker peers
    silent for three announce intervals."""

    def __init__(
        self,
        manager: TaskManager,
        kept: KeptStore,
        settings: Settings,
        torrents: TorrentRepository | None = None,
    ) -> None:
        self.manager = manager
        self.kept = kept
        self.settings = settings
        self.torrents = torrents

    async def once(self) -> None:
        await self.manager.clean_expired()
        # with workers: steps the queue lost (nothing changed for a whole interval)
        await self.manager.resend_stuck(self.settings.cleanup_interval)
        torrents = self.torrents
        if torrents is not None:
            # peers of swarms nobody announces to any more (an announce only tidies its own)
            silent = timedelta(seconds=3 * self.settings.tracker_interval)
            await self.kept.db.write(lambda: torrents.forget_silent(silent))
        age = self.settings.blob_staging_max_age
        removed = await self.kept.blobs.clean_staging(age)
        if removed:
            log.info("removed %d leftovers of interrupted uploads", removed)
        catalog = self.kept.catalog
        if catalog is not None:
            stale = timedelta(seconds=self.settings.model_upload_max_age)
            dropped = await self.kept.db.write(catalog.drop_stale_uploads, stale)
            for digest in dropped:
                await self.kept.release(BlobKey.sha256(digest))
            if dropped:
                log.info("released %d files of model versions never published", len(dropped))
        collected = await self.kept.collect(min_age=age)
        if collected.removed:
            log.info(
                "collected %d blobs no row names (%d bytes)", collected.removed, collected.freed
            )
        pruned = await asyncio.to_thread(trim_cache, self.settings)
        if pruned is not None and pruned.removed:
            log.info("evicted %d cached files (%d bytes)", pruned.removed, pruned.freed)

    async def periodically(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.once()
            except Exception:  # a failed sweep must not end the service; the next retries
                log.exception("cleanup failed")


def _publish_socket_models(app: FastAPI) -> None:
    """Extend ``app.openapi()``: problem documents under their own media type, and the
    WebSocket's message models in ``components.schemas`` (OpenAPI has no place for a
    socket's messages, but the UI's types are generated from this schema all the same)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        _problem_media_type(schema)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in SOCKET_MODELS:
            _add_component(components, model)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _problem_media_type(schema: dict[str, Any]) -> None:
    """FastAPI files every declared answer under application/json, and documents its own
    validation answer (422) as ``HTTPValidationError``; every error is in fact a problem
    document, sent as application/problem+json."""
    ref = f"#/components/schemas/{ProblemDocument.__name__}"
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if "422" in answers:
                answers["422"] = {
                    "description": "A parameter or field is not valid.",
                    "content": {"application/json": {"schema": {"$ref": ref}}},
                }
            for answer in answers.values():
                content = answer.get("content", {})
                if content.get("application/json", {}).get("schema", {}).get("$ref") == ref:
                    content[problems.PROBLEM_JSON] = content.pop("application/json")
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)


def _add_component(components: dict[str, Any], model: type[BaseModel]) -> None:
    found = TypeAdapter(model).json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )
    named = {**found.pop("$defs", {}), model.__name__: found}
    for name, definition in named.items():
        known = components.setdefault(name, definition)
        if known != definition:
            raise RuntimeError(f"two different schemas named {name} in the OpenAPI document")
