"""The operations HTTP server on METRICS_PORT (SPEC 8b): `/healthz` and `/metrics`.

Bound to WEB_HOST (127.0.0.1 by default): the figures are for the operator's Prometheus,
not for the internet. `main()` owns the runner and cleans it up on shutdown.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry

from bot.ops.health import HealthProbe
from bot.ops.metrics import NewsbotCollector

_PROBE = web.AppKey("probe", HealthProbe)
_REGISTRY = web.AppKey("registry", CollectorRegistry)
_COLLECTOR = web.AppKey("collector", NewsbotCollector)


async def healthz(request: web.Request) -> web.Response:
    healthy, body = await request.app[_PROBE].check()
    return web.json_response(body, status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    await request.app[_COLLECTOR].refresh()
    payload = generate_latest(request.app[_REGISTRY])
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def not_ready(request: web.Request) -> web.Response:
    body = {"status": "starting", "database": False, "scheduler": False, "sender": False}
    return web.json_response(body, status=503)


def build_waiting_app() -> web.Application:
    """What METRICS_PORT answers while the database is not reachable yet at start-up:
    `/healthz` 503, so that an orchestrator waits instead of routing to this copy."""
    app = web.Application()
    app.router.add_get("/healthz", not_ready)
    return app


def build_app(
    probe: HealthProbe, registry: CollectorRegistry, collector: NewsbotCollector
) -> web.Application:
    """`collector` must be registered in `registry`; it is refreshed before each scrape."""
    app = web.Application()
    app[_PROBE] = probe
    app[_REGISTRY] = registry
    app[_COLLECTOR] = collector
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_server(
    app: web.Application, host: str, port: int, *, shutdown_timeout: float = 1.0
) -> web.AppRunner:
    """Listening once this returns; OSError when the port is taken. Clean up the runner:
    it stops listening, then gives requests in hand `shutdown_timeout` to finish."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
