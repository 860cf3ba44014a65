"""A benchmark server: the real app with telemetry fully on or fully off, or bare FastAPI variants.

    python bench/serve.py on     # as `python -m app serve` serves it: RED metrics, JSON access line
                                 # (to stdout, which bench/run.py sends to /dev/null), tracing at the
                                 # default sampling with a batch span processor (spans are dropped)
    python bench/serve.py off    # the same app and settings (security headers included), no telemetry:
                                 # no ObservabilityMiddleware, no tracing, WARNING logs
    python bench/serve.py bare   # FastAPI with one route: the yardstick every ratio is taken against
    python bench/serve.py limit  # the data routes' same-work limit (bench/limit.py): the app's SQL and
                                 # request validation on bare FastAPI with one asyncpg pool

Tracing instrumentations, each on the bare app, every request traced (one span, spans dropped):

    trace-builtin     FastAPI's built-in telemetry (`operation_spans=False`)
    trace-contrib     opentelemetry-instrumentation-fastapi (`exclude_spans=["receive", "send"]`)
    trace-ours        ObservabilityMiddleware with a tracer, access line off
    metrics-ours      ObservabilityMiddleware without a tracer, access line off: subtract it from
                      trace-ours to get the cost of our span alone

The app gets one extra trivial route, `GET /bench/hello`, to measure the stack's own cost.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from limit import limit_app  # bench/, first on the path when this file runs
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from starlette.types import ASGIApp

from app.__main__ import load_settings
from app.main import as_served, create_app
from app.observability.logging import configure_logging
from app.observability.metrics import serve_metrics
from app.observability.middleware import ObservabilityMiddleware
from app.observability.tracing import create_tracer_provider, sampling_from_env
from app.server import create_server
from app.settings import Settings


class DroppingExporter(SpanExporter):
    """Exports nowhere, so the benchmark pays for recording and batching but not for a network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def hello() -> dict[str, str]:
    return {"hello": "world"}


def _dropping_provider() -> TracerProvider:
    provider = TracerProvider()  # the SDK default sampler: every root span is recorded
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    return provider


def bare_app(mode: str) -> tuple[FastAPI, ASGIApp]:
    """FastAPI with the hello route, and the instrumentation `mode` names (if any)."""
    configure_logging("WARNING")
    app = FastAPI()
    if mode == "trace-builtin":
        builtin: TelemetryConfig = {"tracing": True, "operation_spans": False}
        app = FastAPI(telemetry=builtin | {"tracer_provider": _dropping_provider()})
    app.add_api_route("/bench/hello", hello)
    # Only the tracing modes get a provider (and its export thread): the others stay as bare as `bare`.
    provider = _dropping_provider() if mode in {"trace-contrib", "trace-ours"} else None
    if mode == "trace-contrib":
        FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, exclude_spans=["receive", "send"])
    if mode == "trace-ours" and provider is not None:
        return app, ObservabilityMiddleware(app, tracer=provider.get_tracer("app"))
    if mode == "metrics-ours":
        return app, ObservabilityMiddleware(app)
    return app, app


def full_app(settings: Settings, telemetry: bool) -> tuple[FastAPI, ASGIApp]:
    """The app wired as `python -m app serve` wires it (`app.__main__.serve`)."""
    access_log = configure_logging(settings.log_level if telemetry else "WARNING")
    provider = create_tracer_provider(settings) if telemetry else None
    if provider is not None:
        provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    app = create_app(settings, provider, sampling_from_env(settings.trace_sampled_parents_per_second)[1])
    app.add_api_route("/bench/hello", hello)
    if telemetry and settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.host)
    return app, as_served(app, access_log=access_log, telemetry=telemetry)


def main(mode: str) -> None:
    settings = load_settings(Settings)
    if mode in {"on", "off"}:
        app, served = full_app(settings, mode == "on")
    elif mode == "limit":
        app = served = limit_app(settings)
        app.add_api_route("/bench/hello", hello)
    else:
        app, served = bare_app(mode)
    create_server(settings, app, served).run()


if __name__ == "__main__":
    main(sys.argv[1])
