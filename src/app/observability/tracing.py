"""OpenTelemetry tracing, configured by the standard OTEL_* variables and one setting.

- `OTEL_SDK_DISABLED=true`: no tracer provider at all (logs still carry a caller's trace ID).
- No exporter unless one is configured (`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT` or
  `OTEL_TRACES_EXPORTER=otlp|console`): spans still carry IDs into logs and propagation, and nothing
  is sent anywhere.
- Sampling: `OTEL_TRACES_SAMPLER`/`_ARG`, default `parentbased_traceidratio` at 0.01: at the rate one
  task serves, that is tens of traces a second, and a traced request costs far more CPU than an
  untraced one (ADR 0005). The rule is `HeadSampler`'s, asked once per request before any span
  exists, so an unsampled request creates no span and the DB and Redis instrumentations stand aside
  for it. A caller's sampled `traceparent` is honoured (W3C), up to TRACE_SAMPLED_PARENTS_PER_SECOND
  per process, so callers cannot make every request traced.
  Samplers we do not know (`jaeger_remote`, `xray`, ...) are left to the SDK, which reads the same
  variables.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import override

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes
from redis.asyncio import Redis

from app.settings import Settings

DEFAULT_SAMPLE_RATIO = 0.01
# TRACE_SAMPLED_PARENTS_PER_SECOND's default (app.settings; a test checks they agree).
DEFAULT_PARENTS_PER_SECOND = 20.0
_FIXED_RATIOS = {
    "always_on": 1.0,
    "parentbased_always_on": 1.0,
    "always_off": 0.0,
    "parentbased_always_off": 0.0,
}
_RATIO_SAMPLERS = {"traceidratio", "parentbased_traceidratio"}


def _untraced_context() -> Context:
    """An empty context with instrumentation suppressed (OpenTelemetry's `suppress_instrumentation`),
    built once: the contrib Redis instrumentation skips at once under it, and the store, which sees no
    recording span, makes none, so an untraced request makes no non-recording spans."""
    token = otel_context.attach(Context())
    try:
        with suppress_instrumentation():
            return otel_context.get_current()
    finally:
        otel_context.detach(token)


UNTRACED = _untraced_context()


@dataclass(slots=True)
class HeadSampler:
    """Whether a request is traced: the service's one sampling rule, asked by ObservabilityMiddleware
    before any span exists.

    With a caller's `traceparent` (and a parent-based sampler) the caller's decision stands, except
    that at most `parent_rate` of the callers' sampled requests a second are traced (a token bucket
    holding one second's worth); otherwise one request in `1 / ratio` is traced.
    """

    ratio: float
    respect_parent: bool = True
    parent_rate: float = DEFAULT_PARENTS_PER_SECOND
    _tokens: float = field(init=False)
    _refilled_at: float = field(init=False)

    def __post_init__(self) -> None:
        self._tokens, self._refilled_at = self._capacity, time.monotonic()

    @property
    def _capacity(self) -> float:
        return max(1.0, self.parent_rate) if self.parent_rate > 0 else 0.0

    def sampled(self, parent_sampled: bool | None) -> bool:
        """`parent_sampled`: the sampled flag of the caller's W3C `traceparent`, None without one."""
        if self.respect_parent and parent_sampled is not None:
            return parent_sampled and self._take_token()
        return random.random() < self.ratio  # noqa: S311  # not security

    def _take_token(self) -> bool:
        now = time.monotonic()
        elapsed, self._refilled_at = now - self._refilled_at, now
        self._tokens = min(self._capacity, self._tokens + elapsed * self.parent_rate)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


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


def sampling_from_env(parent_rate: float = DEFAULT_PARENTS_PER_SECOND) -> tuple[Sampler | None, HeadSampler]:
    """(the SDK sampler, the head sampler) for the OTEL_TRACES_SAMPLER variables; `parent_rate` is
    TRACE_SAMPLED_PARENTS_PER_SECOND."""
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
    head = HeadSampler(ratio, name.startswith("parentbased"), parent_rate)
    return ParentBased(root=_RequestRootsOnly()), head


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


def instrument_redis(provider: TracerProvider, redis: Redis) -> None:
    """Redis spans, children of the request's server span. (Postgres spans are made by the store,
    `Postgres.fetchrow`, with a tracer from the same provider.)"""
    RedisInstrumentor.instrument_client(redis, tracer_provider=provider)
