"""OpenTelemetry tracing, configured only by the standard OTEL_* variables.

- `OTEL_SDK_DISABLED=true`: no tracer provider at all (and no trace IDs in logs).
- No exporter unless one is configured (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` or
  `OTEL_TRACES_EXPORTER=otlp|console`): spans still carry IDs into logs and propagation, and nothing
  is sent anywhere.
- Sampling: the SDK reads `OTEL_TRACES_SAMPLER`/`_ARG`; when unset we default to
  `parentbased_traceidratio` at 0.1: measured, recording every span costs throughput and brings
  gen-2 GC pauses (docs/observability.md).
"""

from __future__ import annotations

import os

from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings

DEFAULT_SAMPLE_RATIO = 0.1


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
    sampler = None if "OTEL_TRACES_SAMPLER" in os.environ else ParentBasedTraceIdRatio(DEFAULT_SAMPLE_RATIO)
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
