"""Correctness of the import's speed-ups (issue 16); their speed is measured in bench/."""
from fc_market.excel.safety import _Limits, _SheetScanner
from fc_market.reporting import dictionary as dd


def test_code_of_cache_gives_the_same_codes_as_the_lookup():
    cases = [("mode", "Présentiel", "presentiel"), ("mode", "  téléphone ", "telephone"),
             ("mode", "Visioconférence", "visio"), ("mode", "fax", None),
             ("sex", "F", "F"), ("sex", "f", "F"), ("csp", 5, "5"), ("csp", 5.0, "5"),
             ("csp", "5", "5"), ("csp", True, None)]
    for field, value, expected in cases:
        first = dd.code_of(field, value)
        again = dd.code_of(field, value)  # served from the cache
        assert first == again == dd._code_of(field, value) == expected, (field, value)


def test_code_of_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(dd, "_CODE_CACHE", {})
    monkeypatch.setattr(dd, "_CODE_CACHE_MAX", 3)
    for i in range(10):
        assert dd.code_of("sector", f"inconnu {i}") is None
    assert len(dd._CODE_CACHE) == 3


def _scan(xml):
    scanner = _SheetScanner("Actes", _Limits(200 * 2**20, 100, 200_000, 200, 1000, 100 * 2**20))
    scanner.feed(xml, final=True)
    return scanner


def test_sheet_scanner_extent_with_the_fast_paths():
    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    xml = (b"<worksheet " + ns + b"><sheetData>"
           b'<row r="2"><c r="B2"><v>1</v></c><c r="D2"><v>2</v></c></row>'
           b'<row r="3"><c r="B3"><v>1</v></c><c r="C3"/><c><v>3</v></c></row>'
           b'<row><c r="A4"><f>1+1</f><v>2</v></c></row>'
           b"</sheetData></worksheet>")
    scanner = _scan(xml)
    # C3 has no value; the cell after it has no reference: D3
    assert (scanner.min_row, scanner.min_col, scanner.max_row, scanner.max_col) == (2, 1, 4, 4)
    assert scanner.formulas == ["A4"] and scanner.formula_count == 1


def test_personal_data_cache_answers_like_the_search():
    cases = [("Jeanne Martin", True), ("Jeanne Martin", False), ("DS-000123", True),
             ("contact: a.b@example.org", False), ("06 12 34 56 78", False), ("Présentiel", False),
             (612345678, True), (None, True), ("Madame Durand", False), ("cdi", False)]
    for value, reference in cases:
        first = dd.personal_data_in(value, reference=reference)
        again = dd.personal_data_in(value, reference=reference)
        assert first == again == dd._personal_data_in(value, reference=reference), value
    # the reference flag is part of the key: a name is refused as a proof reference only
    assert dd.personal_data_in("Jeanne Martin", reference=True)
    assert dd.personal_data_in("Jeanne Martin", reference=False) is None
    assert "adresse électronique" in dd.personal_data_in("contact: a.b@example.org")
