"""The panel server's FastAPI app: :func:`create_app` puts the pieces together.

The app takes the link to the control process as a parameter (a fake in tests,
the socket client in ``cryoctl panel``: :func:`cryoctl.panel.link.make_link`) and
the clock (monotonic seconds) that tokens and the login throttle read.

Requests pass, outermost first: the request counter (metrics), the guard (Host,
Origin, body size), then FastAPI's exception handling and the routes. While the
app runs, a background task keeps the one subscription to the control process
(:class:`~cryoctl.panel.hub.Hub`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from cryoctl import __version__
from cryoctl.config import Config
from cryoctl.panel import metrics as metrics_module
from cryoctl.panel.guard import RequestGuard
from cryoctl.panel.handlers import install_handlers
from cryoctl.panel.hub import Hub
from cryoctl.panel.link import ControlLink
from cryoctl.panel.metrics import PanelMetrics, RequestCounter
from cryoctl.panel.page import mount_page
from cryoctl.panel.routes import include
from cryoctl.panel.session_rules import NoSessionRules, SessionRules
from cryoctl.panel.settings import PanelSettings
from cryoctl.panel.state import PanelState
from cryoctl.panel.tokens import LoginThrottle, TokenStore
from cryoctl.pins import parse_pin_hash

__all__ = ["create_app", "make_server", "serve"]

log = structlog.get_logger(__name__)

DESCRIPTION = """\
The touch panel's API. It only talks: every command is a request to the control
process, which alone decides whether cold may flow.

Sign in with `POST /api/v1/login` and send the token as `Authorization: Bearer
TOKEN`. `POST /api/v1/estop` needs no sign-in, ever. `GET /api/v1/status` and the
event stream are open too, so alarms show on every screen.

**Event stream**: `WS /api/v1/events` sends JSON text frames: the current snapshot
at connect (`{"v": 1, "type": "snapshot", "snapshot": {...}}`), then every
snapshot and event the control process pushes (`"type": "event"`), and
`{"type": "link", "link": "connected" | "disconnected"}` when the link changes.
A client that does not keep up is closed with code 1013.

Errors are JSON: `{"detail": "..."}` (422 adds `errors`; a rejected profile,
`problems`).
"""

#: Largest WebSocket message accepted from a browser (it has nothing to send).
WS_MAX_BYTES = 64 * 1024


def create_app(
    config: Config,
    link: ControlLink,
    *,
    clock: Callable[[], float] = time.monotonic,
    rules: SessionRules | None = None,
    call_timeout_s: float = 5.0,
    events_queue: int = 64,
    resubscribe_s: float = 0.25,
) -> FastAPI:
    """The panel app for ``config``, reaching the control process through ``link``.

    ``rules`` are the clinic's session rules (the records seam; none by default).
    ``call_timeout_s`` bounds every request to the control process,
    ``events_queue`` is how many messages a slow browser may fall behind before it
    is dropped, and ``resubscribe_s`` the pause before subscribing again.
    """
    panel_metrics = PanelMetrics()
    hub = Hub(link, capacity=events_queue, retry_s=resubscribe_s,
              on_message=panel_metrics.received,
              on_drop=panel_metrics.events_clients_dropped.inc)
    panel_metrics.watch(lambda: hub.latest, lambda: hub.link_up)
    auth = config.auth
    state = PanelState(
        config=config,
        link=link,
        hub=hub,
        metrics=panel_metrics,
        tokens=TokenStore(lifetime_s=auth.token_lifetime_s, idle_s=auth.token_idle_s,
                          clock=clock),
        throttle=LoginThrottle(clock=clock),
        rules=rules if rules is not None else NoSessionRules(),
        staff_pin=None if auth.staff_pin_hash is None else parse_pin_hash(auth.staff_pin_hash),
        technician_pin=(None if auth.technician_pin_hash is None
                        else parse_pin_hash(auth.technician_pin_hash)),
        clock=clock,
        profile_dir=config.data.dir / "profiles",
        call_timeout_s=call_timeout_s,
        settings=PanelSettings(config.data.dir, default_language=config.panel.language),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(hub.run(), name="cryoctl-panel-hub")
        log.info("panel_started", profile_dir=str(state.profile_dir))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            aclose = getattr(link, "aclose", None)
            if aclose is not None:
                await aclose()

    app = FastAPI(
        title="cryoctl panel API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        # The interactive pages load scripts from a CDN; the device has no network.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.panel = state
    install_handlers(app)
    include(app)
    app.include_router(metrics_module.router)
    mount_page(app)  # last: the page's files answer only what no route does
    # Added last is outermost: the counter sees the guard's refusals too.
    app.add_middleware(RequestGuard, allowed_hosts=config.api.allowed_hosts,
                       max_body_bytes=config.api.max_body_bytes)
    app.add_middleware(RequestCounter, metrics=panel_metrics)
    return app


def make_server(config: Config, link: ControlLink, **app_options: Any) -> uvicorn.Server:
    """The uvicorn server of the panel app on ``config.api.bind``/``port``, not yet running.

    Logging must already be configured (:func:`cryoctl.logging.configure_logging`):
    uvicorn's own loggers go through it.
    """
    settings = uvicorn.Config(
        create_app(config, link, **app_options),
        host=config.api.bind,
        port=config.api.port,
        log_config=None,
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        ws_max_size=WS_MAX_BYTES,
    )
    return uvicorn.Server(settings)


def serve(config: Config, link: ControlLink) -> None:
    """Run the panel server until it is stopped (SIGTERM, SIGINT)."""
    make_server(config, link).run()
