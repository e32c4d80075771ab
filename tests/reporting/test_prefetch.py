"""Reading a filled-in file with calamine decoding the acts sheet in a thread while the
safety check ends (``open_checked(prefetch=...)``) gives exactly the reading without it:
the same issues in the same order, the same figures, the same acts handed to the sink.
(Chunks by column against rows: tests/excel/test_reader.py and test_fast_paths.py.)"""
import io

import openpyxl
import pytest

from fc_market.excel import reader
from fc_market.reporting import workbook
from fc_market.reporting.checks import RowChecker, Rules
from tests.reporting.helpers import lot, make_file, row
from tests.reporting.test_hostile_and_transaction import hostile_files, rewrite

P = "2025-03"


def _with_formula(data):
    wb = openpyxl.load_workbook(io.BytesIO(data))
    wb["Actes"]["F3"] = "=1+1"
    wb["Indicateurs du lot"]["B5"] = "=2+2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _sheet_part(data, name):
    wb = openpyxl.load_workbook(io.BytesIO(data))
    index = wb.sheetnames.index(name) + 1
    return f"xl/worksheets/sheet{index}.xml"


KINDS = ["good", "no template", "extra columns", "formulas", "malformed acts sheet", "far cell",
         "doctype after the sheet", "no acts sheet", "csv", "xls", "truncated", "zip_bomb",
         "external_link", "macro", "xxe"]


def files():
    good = make_file("IDF", P, [row(1), row(2, uo="UO0"), row(3, proof="jean@example.org"),
                                row(1), row(4, day="hier"), row(5, beneficiary="06 12 34 56 78"),
                                [None] * 11 + ["ignored column only"]])
    plain = make_file("IDF", P, [row(n) for n in range(1, 30)], template=False)
    acts = _sheet_part(good, "Actes")
    yield "good", good
    yield "no template", plain
    wb = openpyxl.load_workbook(io.BytesIO(plain))
    sheet = wb["Actes"]
    sheet["L1"], sheet["A1"] = "Commentaire", "beneficiary_id"  # an ignored column, a field name
    sheet["M1"] = "uo_code"  # a second header of the same field: the last one is read
    sheet["L40"], sheet["L3"], sheet["M3"] = "only this cell", "note", "UO0"
    out = io.BytesIO()
    wb.save(out)
    yield "extra columns", out.getvalue()
    yield "formulas", _with_formula(good)
    yield "malformed acts sheet", rewrite(good, replace={acts: lambda c: c.replace(b"</row>", b"", 1)})
    yield "far cell", rewrite(good, replace={acts: lambda c: c.replace(
        b"</sheetData>", b'<row r="150000"><c r="GR150000"><v>1</v></c></row></sheetData>')})
    yield "doctype after the sheet", rewrite(good, add={"xl/zz.xml": b'<?xml version="1.0"?>'
                                                      b'<!DOCTYPE x [<!ENTITY e "e">]><x/>'})
    wb = openpyxl.load_workbook(io.BytesIO(good))
    wb["Actes"].title = "Autre"
    out = io.BytesIO()
    wb.save(out)
    yield "no acts sheet", out.getvalue()
    for kind, (build, _) in hostile_files().items():
        yield kind, build()


def _read(data, prefetch, monkeypatch):
    rules = Rules.load(lot("IDF"), P)
    checker = RowChecker(rules, track=False)
    batches = []
    with monkeypatch.context() as patch:
        if not prefetch:
            original = reader.open_checked
            patch.setattr(workbook, "open_checked",
                          lambda data, prefetch=None, **limits: original(data, **limits))
        figures = workbook.read_workbook(data, checker, lambda acts: batches.append(
            {field: list(values) for field, values in acts.items()}), "IDF", P)
    return ([i.as_dict() for i in checker.issues], checker.error_count, checker.warning_count,
            checker.rows, dict(checker.counts), figures, batches)


@pytest.mark.parametrize("kind", KINDS)
def test_prefetched_reading_gives_the_previous_one(idf, monkeypatch, kind):
    data = dict(files())[kind]
    started = []
    original = reader._Prefetch.__init__

    def spy(self, *args):
        started.append(args[1])
        original(self, *args)

    monkeypatch.setattr(reader._Prefetch, "__init__", spy)
    got = _read(data, True, monkeypatch)
    assert started in ([], ["Actes"])
    monkeypatch.setattr(reader._Prefetch, "__init__", original)
    assert got == _read(data, False, monkeypatch)
    if kind in ("good", "no template", "extra columns", "formulas", "malformed acts sheet"):
        assert started == ["Actes"] and got[0]
    if kind == "extra columns":  # a row filled in an ignored column only is still checked
        assert any(issue["row"] == 40 for issue in got[0])
        assert any(issue["code"] == "columns_ignored" for issue in got[0])
    if kind in ("far cell", "no acts sheet", "csv", "xls", "truncated", "zip_bomb"):
        assert not started  # refused, or no such worksheet, before calamine could start


def test_a_failing_prefetch_is_reported_as_calamine_failing(idf):
    """calamine failing in the thread: the refusal calamine failing in line gives."""
    data = make_file("IDF", P, [row(1)])
    book = reader.open_checked(data, prefetch="Actes")
    book._prefetch.thread.join()
    book._prefetch.error, book._prefetch.data = ValueError("boom"), None
    figures = book.iter_rows("Indicateurs du lot")  # another sheet: read as usual
    assert figures.headers
    with pytest.raises(reader.WorkbookError) as exc:
        book.iter_rows("Actes")
    book.close()
    expected = reader._unreadable(ValueError("boom"))
    assert (exc.value.code, exc.value.message, exc.value.details) == \
        (expected.code, expected.message, expected.details) == \
        ("corrupt", reader._CORRUPT, {"error": "ValueError: boom"})
    # a second read of the acts sheet decodes it again in line
    assert list(reader.open_checked(data).iter_rows("Actes"))
