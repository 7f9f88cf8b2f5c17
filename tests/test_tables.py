"""The one table formatter (rgnet.tables)."""

from __future__ import annotations

from rgnet.tables import format_records, format_table


def test_columns_are_aligned_and_numbers_formatted():
    text = format_table(["name", "value"], [["a", 1.23456789], ["bbb", None]], float_format=".3g")
    header, rule, first, second = text.splitlines()
    assert header.split() == ["name", "value"] and set(rule.replace(" ", "")) == {"-"}
    assert first.split() == ["a", "1.23"] and second.split() == ["bbb", "n/a"]
    assert len(header) <= len(rule)


def test_numeric_columns_are_right_aligned():
    lines = format_table(["n"], [[1], [100]]).splitlines()
    assert lines[2] == "  1" and lines[3] == "100"


def test_max_columns_says_how_many_were_left_out():
    text = format_table(["a", "b", "c"], [[1, 2, 3]], max_columns=2)
    assert text.splitlines()[-1] == "(1 more columns in the CSV)" and "c" not in text.splitlines()[0]


def test_records_missing_keys_are_empty():
    lines = format_records([{"method": "wolff", "ratio": 2.0}, {"method": "heatbath"}], ["method", "ratio"])
    assert lines.splitlines()[3].split() == ["heatbath"]


def test_no_rows_give_the_header_and_rule():
    assert format_records([], ["method", "ratio"]).splitlines()[0].split() == ["method", "ratio"]
