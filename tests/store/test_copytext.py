"""COPY text: the joined-row fast path gives exactly what field-by-field formatting gives."""
from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, strategies as st

from opsconductor.engine.store.copytext import field, line, without

values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                   st.sampled_from(["\\N", "a\tb", "x\\y", "line\nbreak", "\r", "nul\x00", "\x1c\u2028\x85"]),
                   st.datetimes(timezones=st.just(timezone.utc)))


@given(st.lists(values, min_size=1, max_size=12).map(tuple))
def test_line_equals_field_by_field(row: tuple) -> None:
    assert line(row) == "\t".join(map(field, row))


def test_escapes() -> None:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
    assert line(("a\tb", None, "c\\d", True, 3, at)) == "a\\tb\t\\N\tc\\\\d\tt\t3\t2026-01-05T09:00:00+00:00"


def test_without_keeps_rows_whose_first_field_is_not_skipped() -> None:
    text = "id1\tx\u2028y\n" + "id2\tz\n" + "id3\t\\n\n"
    assert without(text, {"id2"}) == "id1\tx\u2028y\n" + "id3\t\\n\n"
