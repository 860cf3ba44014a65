"""The list's cursor: what a page hands out comes back as the same position, and every string the
OpenAPI document allows (`CURSOR_PATTERN`) is a position, so a schema-valid request is never refused."""

from __future__ import annotations

import random
import re
import uuid
from datetime import UTC, datetime

import pytest

from app.domain.errors import UnprocessableError
from app.domain.orders import CURSOR_PATTERN, page_cursor, read_cursor

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_a_cursor_reads_back_as_the_position_it_was_made_from() -> None:
    row = {"created_at": datetime(2026, 12, 7, 14, 3, 27, 474132, tzinfo=UTC), "id": uuid.uuid4()}
    cursor = page_cursor(row)
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert read_cursor(cursor) == (row["created_at"], row["id"])


def test_every_string_of_the_pattern_is_a_position() -> None:
    generator = random.Random(32)
    for _ in range(2000):
        cursor = "".join(generator.choice(ALPHABET) for _ in range(30)) + generator.choice("AEIMQUYcgkosw048")
        assert re.fullmatch(CURSOR_PATTERN, cursor)
        read_cursor(cursor)  # raises on any it cannot read


@pytest.mark.parametrize("cursor", ["", "A" * 31 + "B", "A" * 32, "é" * 31, "A" * 30 + "=="])
def test_anything_else_is_refused_pointing_at_the_parameter(cursor: str) -> None:
    with pytest.raises(UnprocessableError) as refused:
        read_cursor(cursor)
    assert refused.value.location == ("query", "after")
