"""Head sampling: the decision ObservabilityMiddleware takes before any span exists."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

from app.observability.tracing import HeadSampler, sampling_from_env


def test_a_callers_decision_stands() -> None:
    assert HeadSampler(0.0).sampled(parent_sampled=True)
    assert not HeadSampler(1.0).sampled(parent_sampled=False)


def test_a_non_parent_based_sampler_ignores_the_caller() -> None:
    assert HeadSampler(1.0, respect_parent=False).sampled(parent_sampled=False)
    assert not HeadSampler(0.0, respect_parent=False).sampled(parent_sampled=True)


def test_roots_are_traced_at_the_ratio() -> None:
    sampler = HeadSampler(0.1)
    traced = sum(sampler.sampled(None) for _ in range(20_000))
    assert 1_500 < traced < 2_500  # 10 % of 20,000, with a wide margin


@pytest.mark.parametrize(
    ("variables", "ratio", "respect_parent"),
    [
        ({}, 0.01, True),
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
    assert head.sampled(None)
