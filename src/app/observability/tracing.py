"""OpenTelemetry tracing, configured only by the standard OTEL_* variables.

- `OTEL_SDK_DISABLED=true`: no tracer provider at all (logs still carry a caller's trace ID).
- No exporter unless one is configured (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` or
  `OTEL_TRACES_EXPORTER=otlp|console`): spans still carry IDs into logs and propagation, and nothing
  is sent anywhere.
- Sampling: `OTEL_TRACES_SAMPLER`/`_ARG`, default `parentbased_traceidratio` at 0.01: at the rate one
  task serves, 1 % is tens of traces a second, and each traced request costs 85 to 170 µs of CPU
  (docs/observability.md, ADR 0005). The decision is taken once per request, first thing in
  ObservabilityMiddleware (`HeadSampler`): an unsampled request creates no span, and the DB and Redis
  instrumentations stand aside for it.
  Samplers we do not know (`jaeger_remote`, `xray`, ...) are left to the SDK, which reads the same
  variables.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import override

from opentelemetry import context as otel_context

# The key behind the public `suppress_instrumentation()`, which every contrib instrumentation checks;
# a prebuilt context is cheaper than entering that context manager per request.
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, Context
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from redis.asyncio import Redis

from app.settings import Settings
from app.store.database import Database

DEFAULT_SAMPLE_RATIO = 0.01
_FIXED_RATIOS = {
    "always_on": 1.0,
    "parentbased_always_on": 1.0,
    "always_off": 0.0,
    "parentbased_always_off": 0.0,
}
_RATIO_SAMPLERS = {"traceidratio", "parentbased_traceidratio"}
# The context of work that is not traced: the contrib DB and Redis instrumentations skip at once, so
# an untraced request makes no non-recording spans.
UNTRACED = otel_context.set_value(_SUPPRESS_INSTRUMENTATION_KEY, True, Context())


def untraced_by_default() -> None:
    """Start this thread's work untraced: tasks created from now on (the server's, and each request's)
    inherit UNTRACED, and only the requests ObservabilityMiddleware traces switch to a context of
    their own. Otherwise it attaches and detaches UNTRACED for each of the 99 % it does not trace:
    ~4k of its ~73k instructions per request (bench/README.md). Call it before the event loop starts
    and before building the middleware, which then learns it needs not check per request either.
    """
    otel_context.attach(UNTRACED)


@dataclass(frozen=True, slots=True)
class HeadSampler:
    """Whether a request is traced, decided before any span exists (ObservabilityMiddleware).

    With a caller's `traceparent` (and a parent-based sampler) the caller's decision stands;
    otherwise one request in `1 / ratio` is traced.
    """

    ratio: float
    respect_parent: bool = True

    def sampled(self, parent_sampled: bool | None) -> bool:
        """`parent_sampled`: the sampled flag of the caller's W3C `traceparent`, None without one."""
        if self.respect_parent and parent_sampled is not None:
            return parent_sampled
        # The whole rule for a root, which ObservabilityMiddleware draws inline: random() is in [0, 1).
        return random.random() < self.ratio  # noqa: S311  # not security


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


def instrument_clients(provider: TracerProvider, db: Database, redis: Redis) -> None:
    """DB and Redis spans, children of the request's server span."""
    db.tracer = provider.get_tracer("app.store")
    engine = db.engine
    instrumentor = SQLAlchemyInstrumentor()  # a singleton: re-instrumenting needs uninstrument first
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    # The contrib package declares sqlalchemy < 2.1; its event hooks work on 2.1 (tests prove the spans).
    instrumentor.instrument(engine=engine.sync_engine, tracer_provider=provider, skip_dep_check=True)
    RedisInstrumentor.instrument_client(redis, tracer_provider=provider)
