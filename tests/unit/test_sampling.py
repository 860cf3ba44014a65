"""Head sampling: the decision FastAPI's telemetry `exclude` hook takes before any span exists."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

from app.observability.tracing import HeadSampler, sampling_from_env

SAMPLED = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOT_SAMPLED = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def _scope(path: str = "/v1/orders", traceparent: bytes | None = None) -> dict[str, Any]:
    headers = [(b"traceparent", traceparent)] if traceparent else []
    return {"type": "http", "path": path, "headers": headers}


def test_health_is_never_traced() -> None:
    assert HeadSampler(1.0).excluded(_scope("/health/ready"))


def test_a_callers_decision_stands() -> None:
    sampler = HeadSampler(0.0)
    assert not sampler.excluded(_scope(traceparent=SAMPLED))
    assert HeadSampler(1.0).excluded(_scope(traceparent=NOT_SAMPLED))


def test_roots_are_traced_at_the_ratio() -> None:
    sampler = HeadSampler(0.1)
    traced = sum(not sampler.excluded(_scope()) for _ in range(20_000))
    assert 1_500 < traced < 2_500  # 10 % of 20,000, with a wide margin


def test_a_malformed_traceparent_counts_as_none() -> None:
    assert not HeadSampler(1.0).excluded(_scope(traceparent=b"00-garbage-01"))
    assert HeadSampler(0.0).excluded(_scope(traceparent=b"00-garbage-01"))


@pytest.mark.parametrize(
    ("variables", "ratio", "respect_parent"),
    [
        ({}, 0.1, True),
        ({"OTEL_TRACES_SAMPLER": "always_on"}, 1.0, False),
        ({"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, 0.0, True),
        ({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, 0.25, False),
        ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "oops"}, 1.0, True),
    ],
)
def test_the_standard_variables_choose_the_ratio(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], ratio: float, respect_parent: bool
) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    monkeypatch.delenv("OTEL_TRACES_SAMPLER_ARG", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    sdk_sampler, head = sampling_from_env()
    assert (head.ratio, head.respect_parent) == (ratio, respect_parent)
    assert sdk_sampler is not None
    # Only request (SERVER) roots are recorded: a stray DB call starts no trace of its own.
    assert sdk_sampler.should_sample(None, 1, "GET", SpanKind.SERVER).decision is Decision.RECORD_AND_SAMPLE
    assert sdk_sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT).decision is Decision.DROP


def test_an_unknown_sampler_is_left_to_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "jaeger_remote")
    sdk_sampler, head = sampling_from_env()
    assert sdk_sampler is None
    assert not head.excluded(_scope())
