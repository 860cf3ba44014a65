"""Flag targeting and the two checkout flows (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from app.domain.checkout import LineItem, legacy_checkout, new_checkout, total_cents
from app.flags import CheckoutFlow, EnvFlagProvider, Rollout, checkout_flow


@dataclass
class Subject:
    beta_group: bool


@pytest.mark.parametrize(
    ("rollout", "beta", "expected"),
    [
        (Rollout.OFF, True, CheckoutFlow.LEGACY),
        (Rollout.ON, False, CheckoutFlow.NEW),
        (Rollout.BETA, True, CheckoutFlow.NEW),
        (Rollout.BETA, False, CheckoutFlow.LEGACY),
    ],
)
def test_rollouts(rollout: Rollout, beta: bool, expected: CheckoutFlow) -> None:
    provider = EnvFlagProvider({"new_checkout": rollout})
    assert checkout_flow(provider, Subject(beta)) is expected


def test_an_unknown_flag_is_off() -> None:
    assert not EnvFlagProvider({}).is_enabled("anything", Subject(True))


def test_flows_shape_the_basket_but_price_it_the_same() -> None:
    items = [LineItem("b", 1, 5), LineItem("a", 2, 10), LineItem("a", 3, 10), LineItem("a", 1, 7)]
    assert legacy_checkout(items) == items
    assert new_checkout(items) == [LineItem("a", 1, 7), LineItem("a", 5, 10), LineItem("b", 1, 5)]
    assert total_cents(legacy_checkout(items)) == total_cents(new_checkout(items)) == 62
