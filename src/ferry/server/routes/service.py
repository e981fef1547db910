"""``/health`` (the one route open to anyone: load balancers ask it) and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ferry import __version__
from ferry.server.deps import Manager, Reader, router
from ferry.server.problems import errors
from ferry.server.schemas import Health, RegistryEntry, RegistryList

public = APIRouter(tags=["service"])
metrics = router(tags=["service"], responses=errors(401, 403))
registries = router(prefix="/api/registries", tags=["service"], responses=errors(401, 403))


@public.get("/health", response_model_exclude_unset=True)
async def health() -> Health:
    return Health(status="ok", version=__version__)


@metrics.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus' text format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def prometheus(m: Manager, who: Reader) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(m.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@registries.get("")
async def list_registries(m: Manager, who: Reader) -> RegistryList:
    """Names and descriptions only: the URLs behind them are the operator's business."""
    entries = [
        RegistryEntry(name=name, description=profile.description)
        for name, profile in sorted(m.settings.registries.items())
    ]
    return RegistryList(registries=entries, default=m.settings.registry)
