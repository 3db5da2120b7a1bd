"""Tracing setup from the OTEL_* settings: off unless asked, standard names, bad values fail."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased, TraceIdRatioBased
from pydantic import ValidationError

from services.common.settings import CommonSettings
from services.common.tracing import (
    context_from_tags,
    resource,
    sampler,
    span_context_from_tags,
    start_tracing,
    trace_tags,
)

pytestmark = pytest.mark.unit


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> CommonSettings:
    for name in list(__import__("os").environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CommonSettings()


def test_off_unless_an_exporter_or_an_endpoint_is_named(monkeypatch) -> None:
    assert not settings(monkeypatch).tracing_enabled
    assert start_tracing(settings(monkeypatch), "longhaul-gateway") is None
    assert not settings(monkeypatch, OTEL_SERVICE_NAME="x").tracing_enabled
    for env in (
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"},
        {"OTEL_TRACES_EXPORTER": "console"},
        {"OTEL_TRACES_EXPORTER": "otlp"},
    ):
        assert settings(monkeypatch, **env).tracing_enabled, env
    on = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert not settings(monkeypatch, OTEL_SDK_DISABLED="true", **on).tracing_enabled
    assert not settings(monkeypatch, OTEL_TRACES_EXPORTER="none", **on).tracing_enabled


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {"OTEL_TRACES_EXPORTER": "zipkin"},
        {"OTEL_TRACES_SAMPLER": "sometimes"},
        {"OTEL_TRACES_SAMPLER_ARG": "1.5"},
        {"OTEL_RESOURCE_ATTRIBUTES": "team"},
        {"OTEL_EXPORTER_OTLP_HEADERS": "=x"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
    ],
)
def test_bad_values_fail_at_boot(monkeypatch, env: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        settings(monkeypatch, **env)


def test_resource_service_name_and_attributes(monkeypatch) -> None:
    plain = resource(settings(monkeypatch), "longhaul-worker", "worker-1").attributes
    assert plain["service.name"] == "longhaul-worker"
    assert plain["service.instance.id"] == "worker-1"
    assert isinstance(plain["process.pid"], int)
    extra = settings(
        monkeypatch, OTEL_RESOURCE_ATTRIBUTES="service.name=from-attrs,team=data%20eng"
    )
    attributes = resource(extra, "longhaul-worker").attributes
    assert (attributes["service.name"], attributes["team"]) == ("from-attrs", "data eng")
    named = settings(
        monkeypatch, OTEL_SERVICE_NAME="mine", OTEL_RESOURCE_ATTRIBUTES="service.name=x"
    )
    assert resource(named, "longhaul-worker").attributes["service.name"] == "mine"


def test_samplers(monkeypatch) -> None:
    assert isinstance(sampler(settings(monkeypatch)), ParentBased)
    assert sampler(settings(monkeypatch, OTEL_TRACES_SAMPLER="always_on")) is ALWAYS_ON
    ratio = sampler(
        settings(monkeypatch, OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG="0.25")
    )
    assert isinstance(ratio, TraceIdRatioBased) and ratio.rate == 0.25


def test_trace_context_round_trips_through_tags(monkeypatch) -> None:
    assert trace_tags() == {}  # no span current: no tags
    tracing = start_tracing(
        settings(monkeypatch, OTEL_TRACES_EXPORTER="console"), "longhaul-gateway"
    )
    assert tracing is not None
    try:
        with tracing.tracer.start_as_current_span("submit") as span:
            tags = trace_tags()
        assert set(tags) == {"longhaul:traceparent"}
        assert span_context_from_tags(tags) is not None
        restored = span_context_from_tags(tags)
        assert (restored.trace_id, restored.span_id) == (
            span.get_span_context().trace_id,
            span.get_span_context().span_id,
        )
        assert span_context_from_tags({"longhaul:exec": "j"}) is None
        assert context_from_tags({}) == {}
    finally:
        tracing.shutdown()
