"""Head sampling: the decision ObservabilityMiddleware takes before any span exists."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind

from app.observability.tracing import HeadSampler, Tracing, tracing_from_env
from app.settings import Settings
from tests.conftest import make_settings


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


def _tracing(**settings: Any) -> Tracing:
    tracing = tracing_from_env(make_settings(**settings))
    assert tracing is not None
    return tracing


def _head(tracing: Tracing) -> HeadSampler:
    assert tracing.sampler is not None
    return tracing.sampler


def test_the_cap_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    default = Settings.model_fields["trace_sampled_parents_per_second"].default
    assert _head(_tracing()).parent_rate == default
    assert _head(_tracing(trace_sampled_parents_per_second=3.0)).parent_rate == 3.0


def test_a_disabled_sdk_traces_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing_from_env(make_settings()) is None


def test_a_callers_decision_stands() -> None:
    assert HeadSampler(0.0, parent_rate=20).sampled(parent_sampled=True)
    assert not HeadSampler(1.0, parent_rate=20).sampled(parent_sampled=False)


def test_a_non_parent_based_sampler_ignores_the_caller() -> None:
    assert HeadSampler(1.0, respect_parent=False, parent_rate=20).sampled(parent_sampled=False)
    assert not HeadSampler(0.0, respect_parent=False, parent_rate=20).sampled(parent_sampled=True)


def test_roots_are_traced_at_the_ratio() -> None:
    sampler = HeadSampler(0.1, parent_rate=20)
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
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    tracing = _tracing()
    head, sdk_sampler = _head(tracing), tracing.provider.sampler
    assert (head.ratio, head.respect_parent) == (ratio, respect_parent)
    # Only request (SERVER) roots are recorded: a stray DB call starts no trace of its own.
    assert sdk_sampler.should_sample(None, 1, "GET", SpanKind.SERVER).decision is Decision.RECORD_AND_SAMPLE
    assert sdk_sampler.should_sample(None, 1, "SELECT", SpanKind.CLIENT).decision is Decision.DROP


def test_an_unknown_sampler_is_left_to_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_SDK_DISABLED", raising=False)
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "jaeger_remote")
    tracing = _tracing()
    assert "RequestRootsOnly" not in tracing.provider.sampler.get_description()  # the SDK's own
    assert _head(tracing).sampled(None)
