"""Correctness of the export's speed-ups (issue 16); their speed is measured in bench/."""
from fc_market.excel import writer
from fc_market.excel.writer import Column, convert


def test_text_fast_path_converts_like_convert():
    values = ["Présentiel", "", "   ", "=SUM(A1)", "+33 1", "-5", "@x", "#N/A", "a\tb", "a\rb",
              "ligne\nsuivante", "bip\x07ici", "\x00\x1f", "x" * 40000, 42, 3.5, None.__class__]
    for value in values:
        assert writer._convert_text(value) == convert("text", value), repr(value)[:30]
    assert writer._convert_text("bip\x07ici") == ("bipici", False)
    assert writer._convert_text("=1+1") == ("=1+1", True)


def test_single_key_getter_reads_mappings_and_objects():
    class Row:
        code = "UO1"
    column = Column("code", "Code")
    assert column.get({"code": "UO0"}) == "UO0"
    assert column.get(Row()) == "UO1"
    assert column.get({"other": 1}) is None
    assert column.get(None) is None
    assert Column("a.code", "x").get({"a": Row()}) == "UO1"

