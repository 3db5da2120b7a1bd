"""``create_app(settings)``: the gateway's only constructor."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter
from resonate.connections import HttpConnection
from resonate.resonate import Resonate
from resonate.retry import ExponentialBackoff

from services.common.resonate_credentials import ResonateCredentials
from services.common.stream_status import ListenerStatus
from services.common.tracing import start_tracing
from services.contract import Catalogue, CatalogueError, load_catalogue
from services.gateway import sdk_auth
from services.gateway.auth.middleware import Authenticate
from services.gateway.auth.openapi import install_openapi_security
from services.gateway.auth.verifier import Authenticator
from services.gateway.edge.middleware import BodySizeLimit, RequestContext
from services.gateway.edge.openapi_doc import finish_openapi
from services.gateway.edge.problems import install_problem_handlers
from services.gateway.edge.responses import JSONResponse
from services.gateway.jobs.finished_views import FinishedViews
from services.gateway.jobs.job_store import JobStore
from services.gateway.jobs.kind_catalogue import GatewayKinds
from services.gateway.jobs.kind_openapi import describe_kinds_in_openapi
from services.gateway.metrics import GatewayMetrics
from services.gateway.routes import compat, job_list, jobs, kinds, ops
from services.gateway.settings import GatewaySettings
from services.gateway.waiting.long_polls import JobWaits
from services.gateway.waiting.push_stream import PushFactory, connect_push

ResonateFactory = Callable[[GatewaySettings], Resonate]
log = structlog.get_logger("longhaul.gateway")


#: Resend ladder inside each bounded call: the SDK's own (1 s doubling to 60 s)
#: would leave at most two tries in a 5 s bound, and after a Resonate restart
#: a request parked in a long backoff would answer 503 although the server is back.
RESEND_BACKOFF = ExponentialBackoff(initial=0.05, factor=2.0, max_delay=0.5)
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def connect_resonate(settings: GatewaySettings) -> Resonate:
    """A send-only client: no SSE source, no listeners, no refresh loop.

    The gateway reads promises directly, so nothing needs pushing to it and
    nothing is left registered on the server per request. The SDK's default
    300 s aiohttp timeout is never reached: every call is bounded by
    ``LONGHAUL_RESONATE_TIMEOUT_S`` (``JobStore``).
    """
    return Resonate(
        # The token goes in through sdk_auth.keep_token_fresh, renewed there.
        network=HttpConnection(url=settings.resonate_url_str, backoff=RESEND_BACKOFF),
        group="gateway",
        sources=[],
        env={},
        subscription_refresh_secs=0,
    )


def log_auth_mode(settings: GatewaySettings, auth: Authenticator) -> None:
    if auth.disabled:
        log.warning(
            "AUTHENTICATION IS OFF (LONGHAUL_AUTH_MODE=none): anyone who reaches this gateway "
            "can submit, read and cancel every job, all in tenant 'default'. Set "
            "LONGHAUL_AUTH_API_KEYS_FILE or LONGHAUL_AUTH_OIDC_* with LONGHAUL_AUTH_MODE=required "
            "for anything but local development."
        )
        if settings.id_secret is None:
            log.warning(
                "LONGHAUL_ID_SECRET is unset: job ids derived from Idempotency-Keys use the "
                "public development secret, so anyone can compute them"
            )
    else:
        log.info(
            "authentication required",
            mechanisms=auth.mechanisms,
            api_keys_file=str(settings.auth_api_keys_file) if auth.keys else None,
            oidc_issuer=settings.auth_oidc_issuer,
        )


def create_app(
    settings: GatewaySettings,
    *,
    resonate_factory: ResonateFactory = connect_resonate,
    metrics_multiproc_dir: Path | None = None,
    catalogue: Catalogue | None = None,
    push_factory: PushFactory | None = None,
    span_exporter: SpanExporter | None = None,
) -> FastAPI:
    """The gateway app; ``catalogue`` defaults to the one ``settings.job_modules`` names.

    ``push_factory`` defaults to the push stream to ``RESONATE_URL`` when the
    Resonate client is the default one: another client (an in-process
    Resonate) has no server to stream from, and long-polls re-read instead.
    ``span_exporter`` replaces the one the OTEL_* settings name (tests).
    """
    if push_factory is None and resonate_factory is connect_resonate:
        push_factory = connect_push
    if catalogue is None:
        catalogue = load_catalogue(settings.job_modules)
    if settings.default_kind not in catalogue:
        raise CatalogueError(
            f"LONGHAUL_DEFAULT_KIND {settings.default_kind!r} is not a kind of "
            f"LONGHAUL_JOB_MODULES ({', '.join(catalogue.names)})"
        )
    metrics = GatewayMetrics(metrics_multiproc_dir)
    metrics.declare_kinds(catalogue.names)
    credentials = ResonateCredentials.from_settings(settings, subject="longhaul-gateway")
    credentials.on_change.append(lambda _token, exp: metrics.token_expiry(credentials.mode, exp))
    credentials.notify()
    # Here, not in the gunicorn master: gunicorn loads the app in each web worker
    # after the fork, so each has its own provider and export thread.
    tracing = start_tracing(settings, "longhaul-gateway", exporter=span_exporter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        resonate = resonate_factory(settings)
        app.state.resonate = resonate
        store = JobStore(
            resonate,
            timeout_s=settings.resonate_timeout_s,
            retry_after_s=settings.retry_after_s,
            on_canceled=lambda job: metrics.job_canceled(
                job.kind, job.created_ms, job.completed_ms
            ),
        )
        app.state.store = store
        app.state.finished = FinishedViews(
            settings.finished_cache_size,
            settings.finished_cache_ttl_s,
            retention_ms=settings.policy().retention_ms,
        )
        stream = None
        if settings.wait_push and push_factory is not None:
            status = ListenerStatus()
            metrics.watch_push(status)
            stream = push_factory(settings, status, credentials.token)
            waits = JobWaits(store, metrics, stream=status, address=stream.unicast())
            stream.recv(waits.on_message)
            credentials.on_change.append(
                lambda token, _exp: sdk_auth.apply_stream_token(stream, token)
            )
            await stream.start()
        else:
            waits = JobWaits(store, metrics)
        app.state.waits = waits
        app.state.kinds = GatewayKinds(
            catalogue,
            store,
            require_workers=settings.require_workers,
            retry_after_s=settings.retry_after_s,
        )
        auth = Authenticator.from_settings(settings, metrics)
        app.state.auth = auth
        await auth.start()
        log_auth_mode(settings, auth)
        log.info(
            "gateway started",
            resonate_url=settings.resonate_url_str,
            kinds=catalogue.names,
            auth=credentials.mode,
        )
        try:
            async with sdk_auth.keep_token_fresh(resonate, credentials):
                yield
        finally:
            await auth.stop()
            if stream is not None:
                await stream.stop()
            try:
                await asyncio.wait_for(resonate.stop(), timeout=settings.resonate_timeout_s)
            except TimeoutError:
                log.warning("resonate client did not stop in time")
            if tracing is not None:
                await asyncio.to_thread(tracing.shutdown)

    app = FastAPI(
        title="Longhaul",
        version="1.0.0",
        summary="Durable long-running jobs over HTTP: submit, poll, cancel.",
        lifespan=lifespan,
        default_response_class=JSONResponse,
        # With tracing off FastAPI's native OpenTelemetry hooks stay off: they
        # would look up the global OTel providers on every request (~13 us on a
        # status poll) to find none. On, they make the server span of each
        # request (W3C traceparent from the client) with our provider.
        telemetry={"tracing": False, "metrics": False, "logs": False}
        if tracing is None
        else {
            "tracing": True,
            "tracer_provider": tracing.provider,
            "operation_spans": False,
            "metrics": False,
            "logs": False,
            # Probes and scrapes every few seconds would bury the job traces.
            "exclude": lambda scope: scope.get("path") in UNTRACED_PATHS,
        },
        # The routes go on the app's own router, ahead of the docs routes, not
        # through include_router: FastAPI matches an included router as a
        # nested branch on every request, which cost the status poll ~18 us.
        routes=[
            *jobs.router.routes,
            *job_list.router.routes,
            *kinds.router.routes,
            *compat.router.routes,
            *ops.router.routes,
        ],
    )
    app.state.catalogue = catalogue
    describe_kinds_in_openapi(app, catalogue)
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.tracing = tracing
    install_problem_handlers(app)
    install_openapi_security(app, settings)
    finish_openapi(app, settings)
    # Outermost last: RequestContext sees every response and every error
    # (including 401s, 413s and errors raised while a body is read); nothing
    # may be added after it (a test checks it stays the outermost). A request
    # is authenticated before anything reads its body.
    app.add_middleware(Authenticate)
    app.add_middleware(
        BodySizeLimit,
        limit=settings.max_body_bytes,
        drain_bytes=settings.body_drain_bytes,
        drain_timeout_s=settings.body_drain_timeout_s,
    )
    app.add_middleware(RequestContext, metrics=metrics)

    return app
