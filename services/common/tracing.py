"""OpenTelemetry traces for every Longhaul process: setup, and the context that rides a job.

Off unless the ``OTEL_*`` settings name an exporter or an OTLP endpoint
(``CommonSettings.tracing_enabled``): then nothing here is built and nothing
on a request's path looks for a span. On, each process builds one
``TracerProvider`` (never the global one) with a ``BatchSpanProcessor``;
the gateway builds it in ``create_app``, which gunicorn runs in each web
worker after the fork, so the processor's export thread is the worker's own.

The W3C trace context of the request that submitted a job rides with the job
as promise tags (``longhaul:traceparent``, ``longhaul:tracestate``, and
``longhaul:baggage`` when there is baggage): the worker continues that trace
in every execution, on whichever worker and however many crashes later.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter, Setter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from services.common.settings import CommonSettings, parse_key_values

TAG_PREFIX = "longhaul:"
INSTRUMENTATION = "longhaul"


@dataclass(frozen=True)
class Tracing:
    """This process's tracer provider and the tracer Longhaul's own spans come from."""

    provider: TracerProvider
    tracer: trace.Tracer

    def shutdown(self) -> None:
        """Export what is queued and stop the export thread (blocks up to its timeout)."""
        self.provider.shutdown()


def start_tracing(
    settings: CommonSettings,
    default_service: str,
    *,
    instance_id: str | None = None,
    exporter: SpanExporter | None = None,
) -> Tracing | None:
    """This process's tracing, or None when the settings leave it off.

    ``exporter`` replaces the one the settings name (tests: an in-memory one).
    """
    if not settings.tracing_enabled:
        return None
    provider = TracerProvider(
        resource=resource(settings, default_service, instance_id), sampler=sampler(settings)
    )
    provider.add_span_processor(
        BatchSpanProcessor(
            exporter or span_exporter(settings),
            schedule_delay_millis=settings.otel_bsp_schedule_delay,
        )
    )
    return Tracing(provider, provider.get_tracer(INSTRUMENTATION))


def resource(
    settings: CommonSettings, default_service: str, instance_id: str | None = None
) -> Resource:
    attributes: dict[str, Any] = {"service.name": default_service}
    if instance_id is not None:
        attributes["service.instance.id"] = instance_id
    attributes.update(settings.otel_resource_attributes)
    if settings.otel_service_name:
        attributes["service.name"] = settings.otel_service_name
    attributes["process.pid"] = os.getpid()
    # create() adds the telemetry.sdk.* attributes; ours win over its detectors.
    return Resource.create(attributes)


def sampler(settings: CommonSettings) -> Sampler:
    name = settings.otel_traces_sampler
    ratio = 1.0 if settings.otel_traces_sampler_arg is None else settings.otel_traces_sampler_arg
    root: Sampler
    if name.endswith("always_on"):
        root = ALWAYS_ON
    elif name.endswith("always_off"):
        root = ALWAYS_OFF
    else:
        root = TraceIdRatioBased(ratio)
    return ParentBased(root) if name.startswith("parentbased_") else root


def span_exporter(settings: CommonSettings) -> SpanExporter:
    if settings.otel_traces_exporter == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if settings.otel_exporter_otlp_traces_endpoint is not None:
        endpoint = str(settings.otel_exporter_otlp_traces_endpoint)
    elif settings.otel_exporter_otlp_endpoint is not None:
        endpoint = str(settings.otel_exporter_otlp_endpoint).rstrip("/") + "/v1/traces"
    else:
        endpoint = "http://localhost:4318/v1/traces"  # the OTLP default, for exporter=otlp
    headers = settings.otel_exporter_otlp_headers
    return OTLPSpanExporter(
        endpoint=endpoint,
        headers=parse_key_values(headers.get_secret_value(), "OTEL_EXPORTER_OTLP_HEADERS")
        if headers
        else None,
    )


# ── the trace context as promise tags ───────────────────────────────────────


class _TagSetter(Setter[dict[str, str]]):
    def set(self, carrier: dict[str, str], key: str, value: str) -> None:
        carrier[TAG_PREFIX + key] = value


class _TagGetter(Getter[Mapping[str, str]]):
    def get(self, carrier: Mapping[str, str], key: str) -> list[str] | None:
        value = carrier.get(TAG_PREFIX + key)
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, str]) -> list[str]:
        return [k[len(TAG_PREFIX) :] for k in carrier if k.startswith(TAG_PREFIX)]


_SETTER = _TagSetter()
_GETTER = _TagGetter()


def trace_tags() -> dict[str, str]:
    """The current trace context as promise tags; empty when no span is current."""
    tags: dict[str, str] = {}
    propagate.inject(tags, setter=_SETTER)
    return tags


def context_from_tags(tags: Mapping[str, str]) -> Context:
    """The trace context ``trace_tags`` stored (an empty context if none was)."""
    return propagate.extract(tags, getter=_GETTER, context=Context())


def span_context_from_tags(tags: Mapping[str, str]) -> trace.SpanContext | None:
    span_context = trace.get_current_span(context_from_tags(tags)).get_span_context()
    return span_context if span_context.is_valid else None
