"""A benchmark server: the real app with telemetry fully on or fully off, or a bare FastAPI app.

    python bench/serve.py on     # as `python -m app serve` serves it: RED metrics, JSON access line
                                 # (to stdout, which bench/run.py sends to /dev/null), tracing at the
                                 # default sampling with a batch span processor (spans are dropped)
    python bench/serve.py off    # the same app and settings, no middleware, no tracing, WARNING logs
    python bench/serve.py bare   # FastAPI with one route: the yardstick every ratio is taken against

The app gets one extra trivial route, `GET /bench/hello`, to measure the stack's own cost.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from app.__main__ import load_settings
from app.main import as_served, create_app
from app.observability.logging import configure_logging
from app.observability.metrics import serve_metrics
from app.observability.tracing import create_tracer_provider, sampling_from_env
from app.server import create_server


class DroppingExporter(SpanExporter):
    """Exports nowhere, so the benchmark pays for recording and batching but not for a network."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def hello() -> dict[str, str]:
    return {"hello": "world"}


def main(mode: str) -> None:
    settings = load_settings()
    if mode == "bare":
        bare = FastAPI()
        bare.add_api_route("/bench/hello", hello)
        create_server(settings, bare, bare).run()
        return
    telemetry = mode == "on"
    configure_logging(settings.log_level if telemetry else "WARNING")
    provider = create_tracer_provider(settings) if telemetry else None
    if provider is not None:
        provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    app = create_app(settings, provider, sampling_from_env()[1])
    app.add_api_route("/bench/hello", hello)
    if telemetry and settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.host)
    create_server(settings, app, as_served(app) if telemetry else app).run()


if __name__ == "__main__":
    main(sys.argv[1])
