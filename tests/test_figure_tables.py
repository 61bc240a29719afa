"""The figures' tables: written with exactly their columns, read back checked."""

from __future__ import annotations

import pytest

from engine import figure_tables


def test_write_then_read_keeps_the_columns_and_reads_booleans(tmp_path):
    path = tmp_path / "sub" / "t.csv"
    rows = [{"vary": "C", "C": 2, "learned": flag, "extra": "dropped"} for flag in (True, False)]
    figure_tables.write_csv(path, ["vary", "C", "learned"], rows)
    assert path.read_text().splitlines()[0] == "vary,C,learned"  # extra fields are left out
    frame = figure_tables.read_table(path, ["vary", "C", "learned"], bools=["learned"])
    assert list(frame["learned"]) == [True, False] and list(frame["C"]) == [2, 2]


@pytest.mark.parametrize("content, message", [("vary,C\nC,2\n", "lacks the column(s) learned"),
                                              ("vary,C,learned\n", "has no rows"),
                                              (b"\xff\xfe\x00garbage", "is not a text file"),
                                              ("", "is not a CSV table")])
def test_a_table_that_is_not_what_was_written_says_why(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        figure_tables.read_table(path, ["vary", "C", "learned"])
