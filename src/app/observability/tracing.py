"""OpenTelemetry tracing, configured only by the standard OTEL_* variables.

- `OTEL_SDK_DISABLED=true`: no tracer provider at all (and no trace IDs in logs).
- No exporter unless one is configured (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` or
  `OTEL_TRACES_EXPORTER=otlp|console`): spans still carry IDs into logs and propagation, and nothing
  is sent anywhere.
- Sampling: `OTEL_TRACES_SAMPLER`/`_ARG`, default `parentbased_traceidratio` at 0.1: measured,
  recording every span costs throughput and brings gen-2 GC pauses (docs/observability.md). The
  decision is taken once per request, before FastAPI's telemetry runs (`HeadSampler`): an unsampled
  request then costs no span object, no context and no attributes at all. Samplers we do not know
  (`jaeger_remote`, `xray`, ...) are left to the SDK, which reads the same variables.
"""

from __future__ import annotations

import os
import random
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any, override

from opentelemetry.context import Context
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.observability.context import UNOBSERVED_PATHS
from app.settings import Settings

DEFAULT_SAMPLE_RATIO = 0.1
_FIXED_RATIOS = {
    "always_on": 1.0,
    "parentbased_always_on": 1.0,
    "always_off": 0.0,
    "parentbased_always_off": 0.0,
}
_RATIO_SAMPLERS = {"traceidratio", "parentbased_traceidratio"}


@dataclass(frozen=True, slots=True)
class HeadSampler:
    """Whether a request is traced, decided from its scope alone: FastAPI's `exclude` hook.

    With a caller's `traceparent` (and a parent-based sampler) the caller's decision stands;
    otherwise one request in `1 / ratio` is traced. Health probes never are.
    """

    ratio: float
    respect_parent: bool = True

    def excluded(self, scope: MutableMapping[str, Any]) -> bool:
        if str(scope["path"]).startswith(UNOBSERVED_PATHS):
            return True
        if self.respect_parent:
            sampled = sampled_flag(scope)
            if sampled is not None:
                return not sampled
        return self.ratio < 1.0 and random.random() >= self.ratio  # noqa: S311  # not security


def sampled_flag(scope: MutableMapping[str, Any]) -> bool | None:
    """The sampled bit of a well-formed W3C `traceparent` header, or None without one."""
    value = traceparent(scope)
    if value is None or len(value) != 55:
        return None
    try:
        return bool(int(value[53:55], 16) & 1)
    except ValueError:
        return None


def traceparent(scope: MutableMapping[str, Any]) -> bytes | None:
    headers: Sequence[tuple[bytes, bytes]] = scope["headers"]
    for name, value in headers:
        if name == b"traceparent":
            return value
    return None


class _RequestRootsOnly(Sampler):
    """Root spans are recorded only for requests (HeadSampler already chose them); a database or
    Redis call outside a traced request does not start a trace of its own."""

    @override  # the SDK's signature, positional arguments and all
    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if kind is SpanKind.SERVER else Decision.DROP
        return SamplingResult(decision, attributes if decision is Decision.RECORD_AND_SAMPLE else None)

    def get_description(self) -> str:
        return "RequestRootsOnly"


def sampling_from_env() -> tuple[Sampler | None, HeadSampler]:
    """(the SDK sampler, the head sampler) for the OTEL_TRACES_SAMPLER variables."""
    name = os.environ.get("OTEL_TRACES_SAMPLER", "parentbased_traceidratio").strip().lower()
    if name in _FIXED_RATIOS:
        ratio = _FIXED_RATIOS[name]
    elif name in _RATIO_SAMPLERS:
        default = DEFAULT_SAMPLE_RATIO if "OTEL_TRACES_SAMPLER" not in os.environ else 1.0
        try:
            ratio = min(1.0, max(0.0, float(os.environ.get("OTEL_TRACES_SAMPLER_ARG", default))))
        except ValueError:
            ratio = default
    else:
        return None, HeadSampler(1.0, respect_parent=False)  # the SDK's own sampler decides
    return ParentBased(root=_RequestRootsOnly()), HeadSampler(ratio, name.startswith("parentbased"))


def create_tracer_provider(settings: Settings) -> TracerProvider | None:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", "orders-api"),
            "service.version": settings.app_version,
            "deployment.environment.name": settings.app_env,
        }
    )
    sampler, _ = sampling_from_env()
    provider = TracerProvider(resource=resource, sampler=sampler)
    processor = _exporting_processor()
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def _exporting_processor() -> SpanProcessor | None:
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint_set = any(
        os.environ.get(name) for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    if exporter_name == "console":
        return BatchSpanProcessor(ConsoleSpanExporter())
    if exporter_name == "otlp" or (endpoint_set and exporter_name in {"", "otlp"}):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: PLC0415

        return BatchSpanProcessor(OTLPSpanExporter())
    return None


def instrument_clients(provider: TracerProvider, engine: AsyncEngine, redis: Redis) -> None:
    """DB and Redis spans, children of the request's server span."""
    instrumentor = SQLAlchemyInstrumentor()  # a singleton: re-instrumenting needs uninstrument first
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # The contrib package declares sqlalchemy < 2.1; its event hooks work on 2.1 (tests prove the spans).
    instrumentor.instrument(engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True)
    RedisInstrumentor.instrument_client(redis, tracer_provider=provider)
