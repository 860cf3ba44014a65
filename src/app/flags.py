"""Feature flags: typed `FF_*` values and the single evaluation seam.

Call sites ask `flags.checkout_flow(customer)`-style questions through a `FlagProvider`; only this
module knows that today the answers come from environment variables. Swapping in an OpenFeature
provider (Unleash, Flagsmith, LaunchDarkly) means writing another `FlagProvider` here and choosing it
in `main.py`; no call site changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class Rollout(StrEnum):
    """Who a flag is on for: nobody, everybody, or the customers in the beta group."""

    OFF = "false"
    ON = "true"
    BETA = "beta"


class CheckoutFlow(StrEnum):
    LEGACY = "legacy"
    NEW = "new"


class FlagSubject(Protocol):
    """What targeting may look at: kept minimal so flags never see personal data."""

    @property
    def beta_group(self) -> bool: ...


class FlagProvider(Protocol):
    def is_enabled(self, flag: str, subject: FlagSubject) -> bool: ...


@dataclass(frozen=True, slots=True)
class EnvFlagProvider:
    """Flags read once from the validated settings (`FF_<NAME>` = false | true | beta)."""

    rollouts: dict[str, Rollout]

    def is_enabled(self, flag: str, subject: FlagSubject) -> bool:
        rollout = self.rollouts.get(flag, Rollout.OFF)
        return rollout is Rollout.ON or (rollout is Rollout.BETA and subject.beta_group)


def checkout_flow(provider: FlagProvider, subject: FlagSubject) -> CheckoutFlow:
    """The seam the orders domain calls: which checkout flow places this customer's order."""
    return CheckoutFlow.NEW if provider.is_enabled("new_checkout", subject) else CheckoutFlow.LEGACY
