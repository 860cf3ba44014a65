"""Head sampling: the decision ObservabilityMiddleware takes before any span exists."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

from app.observability.tracing import DEFAULT_PARENTS_PER_SECOND, HeadSampler, sampling_from_env
from app.settings import Settings


def test_callers_sampled_traces_are_capped_by_a_token_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most `parent_rate` a second (a burst of one second's worth), refilled as time passes; the
    caller's "not sampled" and the roots' ratio are untouched by it."""
    now = [1000.0]
    monkeypatch.setattr("app.observability.tracing.time.monotonic", lambda: now[0])
    sampler = HeadSampler(1.0, parent_rate=5.0)
    assert [sampler.sampled(parent_sampled=True) for _ in range(7)] == [True] * 5 + [False] * 2
    assert sampler.sampled(None), "roots are the ratio's"
    now[0] += 0.2  # one token's worth
    assert [sampler.sampled(parent_sampled=True) for _ in range(2)] == [True, False]
    now[0] += 60  # never more than the burst
    assert sum(sampler.sampled(parent_sampled=True) for _ in range(10)) == 5
    assert not HeadSampler(1.0, parent_rate=0).sampled(parent_sampled=True)


def test_the_caps_default_is_the_settings() -> None:
    assert Settings.model_fields["trace_sampled_parents_per_second"].default == DEFAULT_PARENTS_PER_SECOND
    assert sampling_from_env()[1].parent_rate == DEFAULT_PARENTS_PER_SECOND
    assert sampling_from_env(3.0)[1].parent_rate == 3.0


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
