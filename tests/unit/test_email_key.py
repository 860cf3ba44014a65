"""The email key: one identity for every spelling a person could sign up with."""

from __future__ import annotations

import importlib

import pytest

from app.domain.customers import email_key

MIGRATION = importlib.import_module("app.migrations.versions.0002_customers_email_key")


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("ΣΑΣ@example.com", "σας@example.com"),  # capital and final sigma
        ("STRASSE@example.com", "straße@example.com"),  # ß folds to ss; lower() keeps it
        ("FILE@example.com", "ﬁle@example.com"),  # the ﬁ ligature is f + i under NFKC
        ("ann@example.com", "ANN@EXAMPLE.COM"),
        ("\uff2a\uff4f\uff45@example.com", "joe@example.com"),  # fullwidth letters
    ],
)
def test_spellings_of_one_address_share_a_key(one: str, other: str) -> None:
    assert email_key(one) == email_key(other)


def test_different_addresses_keep_different_keys() -> None:
    assert email_key("ann@example.com") != email_key("anne@example.com")
    assert email_key("zoë@example.com") != email_key("zoe@example.com")  # accents are letters


@pytest.mark.parametrize("email", ["ΣΑΣ@x.io", "straße@x.io", "ﬁ@x.io", "ǅ@x.io", "ẞ@x.io", "ﬃ@x.io"])
def test_the_migration_computes_the_same_key(email: str) -> None:
    assert MIGRATION.email_key(email) == email_key(email)
