"""The worksheet scan's fast path (regular expressions, expat without element handlers)
gives exactly the figures and refusals of the full expat scan, or steps aside for it."""
import pytest

from fc_market.excel import safety
from fc_market.excel.safety import UnsafeWorkbook, check_xlsx

from .test_safety import NS, SHEET, good_xlsx, rezip, sheet_xml


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure-Python tests: no app, no database."""
    yield


def _outcome(data, **limits):
    try:
        return "ok", check_xlsx(data, **limits)
    except UnsafeWorkbook as exc:
        return "refused", (exc.code, exc.message, exc.details)


def both_paths(monkeypatch, data, **limits):
    """(fast outcome, full-scan outcome, whether the fast path answered for every sheet)."""
    answered = []
    original = safety._Inspector._fast_scan

    def spy(self, *args):
        result = original(self, *args)
        answered.append(result)
        return result

    with monkeypatch.context() as patch:
        patch.setattr(safety._Inspector, "_fast_scan", spy)
        fast = _outcome(data, **limits)
    with monkeypatch.context() as patch:
        patch.setattr(safety._Inspector, "_fast_scan", lambda self, *args: False)
        slow = _outcome(data, **limits)
    return fast, slow, bool(answered) and all(answered)


INLINE = '<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'

#: (sheet body, head, whether the fast path should answer itself)
BODIES = [
    ('<row r="1"><c r="A1"><v>1</v></c></row>', "", True),
    ('<row r="1" spans="1:3"><c r="A1" t="s"><v>0</v></c><c r="C1" s="2"><v>3.5</v></c></row>'
     '<row r="4"><c r="B4" s="1"/></row><row r="9"><c r="D9" s="1"/></row>', "", True),
    ('<row r="2">' + INLINE.format(ref="B2", text="b&#233;n&#233;ficiaire &amp; co")
     + INLINE.format(ref="AB2", text="x") + "</row>", '<dimension ref="B2:AB2"/>', True),
    ('<row r="3"><c r="C3"><is><r><rPr><b/></rPr><t>gras</t></r></is></c></row>', "", True),
    ('<row r="1"><c r="A1"><v>1</v></c></row><row r="1048576"><c r="XFD1048576"><v>2</v></c></row>',
     "", False),
    ('<row r="1"><c r="A1"><v>1</v></c><c r="AAAAA1"><v>2</v></c></row>', "", False),
    ('<row r="1"><c r="A1"><v>1</v></c></row>', '<dimension ref="A1:XFD1048576"/>', False),
    ('<row r="1"><c r="A1"><v>1</v></c></row>', '<dimension ref="A1:GR199999"/>', False),
    ('<row r="1"><c r="A1"><v>1</v></c></row><row r="199999"><c r="GR199999"><v>1</v></c></row>',
     "", False),
    ('<row r="7"><c r="C7"><v>1</v></c><c><v>2</v></c></row>', "", False),
    ("<row><c><v>1</v></c></row>" * 5, "", False),
    ('<row r="1"><c r="A1"><v>1</v></c></row><row r="900000"><c r="XFD900000" s="1"/></row>',
     "", True),
    ('<row r="5"><c r="B5"><f>1+1</f><v>2</v></c></row>', "", False),
    ('<row r="5"><c r="b5"><v>2</v></c></row>', "", False),
    ('<row r="5"><c s="1" r="B5"><v>2</v></c></row>', "", False),
    ('<row r="5"><c r="B05"><v>2</v></c></row>', "", False),
    ('<row r="5"><c r="B5"><v>2</v><v>3</v></c><c r="Z9"/></row>', "", False),
    ('<row r="5"><c r="B5"/><v>2</v></row>', "", True),  # a stray value: its cell's
    ('<row r="5"><c r="B5"><v/></c><c r="C5"><v t="x">1</v></c></row>', "", True),
    ('<row x=">" r="&#178;"><c r="B5"><v>2</v></c></row>', "", False),
    ("<row r='\u00e9'><c r=\"B5\"><v>2</v></c></row>", "", False),
    ('<row r="&#178;"><c r="B5"><v>2</v></c></row>', "", False),
    ('<row r="5"><c r="B5"><is><t><![CDATA[<c r="ZZ99"><v>1</v></c>]]></t></is></c></row>', "",
     False),
    ('<row r="5"><!-- <c r="ZZ99"><v>1</v></c> --><c r="B5"><v>2</v></c></row>', "", False),
    ('<row r="5"><c r="B5"><v>2</v></c></row><ext xmlns="urn:other"><c r="ZZ99"><v>1</v></c></ext>',
     "", False),
    ('<row r="5"><c r="B5"><v>2</v></c></row><vertAlign/>', "", False),
    ('<row r="5"><c r="B5"><v>2</v></c>', "", False),  # not well-formed
    ("", "", True),
    # cells without a value count for nothing, whatever their reference looks like
    ('<row r="5"><c r="B5"><v>2</v></c><c s="1" r="ZZ9"/><c r="zz7" s="1"/><c/><c>\n</c>'
     '<c r="$Q$9"></c></row>', "", True),
    ('<row r="5"><c s="1" r="ZZ9"/><c><v>2</v></c></row>', "", False),
    ('<row r="5"><c s="1" r="B5"><v>2</v></c></row>', "", False),
]


@pytest.mark.parametrize("body,head,fast", BODIES)
def test_fast_path_matches_the_full_scan(monkeypatch, body, head, fast):
    data = rezip(good_xlsx(), replace={SHEET: sheet_xml(body, head)})
    got, expected, answered = both_paths(monkeypatch, data)
    assert got == expected
    assert answered == fast


def test_prefixed_and_undeclared_namespaces(monkeypatch):
    xml = (f'<x:worksheet xmlns:x="{NS}"><x:sheetData><x:row r="2"><x:c r="B2"><x:v>2</x:v>'
           f'</x:c></x:row></x:sheetData></x:worksheet>').encode()
    plain = b'<worksheet><sheetData><row r="2"><c r="B2"><v>2</v></c></row></sheetData></worksheet>'
    for sheet in (xml, plain, b'<?xml version="1.0"?>\n' + plain, b"\xef\xbb\xbf" + plain):
        got, expected, _ = both_paths(monkeypatch, rezip(good_xlsx(), replace={SHEET: sheet}))
        assert got == expected and got[0] == "ok"


def test_blocks_cut_inside_a_sheet(monkeypatch):
    """A large sheet crosses many inflate chunks: cells, values and long texts across them."""
    rows = []
    for number in range(1, 3001):
        text = ("long " * (number % 50)) + "&#233;"
        rows.append(f'<row r="{number}" spans="1:4"><c r="A{number}"><v>{number}</v></c>'
                    + INLINE.format(ref=f"C{number}", text=text)
                    + (f'<c r="D{number}" s="3"/>' if number % 7 else "") + "</row>")
    rows.append('<row r="4000"><c r="F4000" s="2"/></row>')
    data = rezip(good_xlsx(), replace={SHEET: sheet_xml("".join(rows))})
    got, expected, answered = both_paths(monkeypatch, data)
    assert answered and got == expected
    sheet = got[1].sheet("Offres")
    assert (sheet.min_row, sheet.min_col, sheet.max_row, sheet.max_col) == (1, 1, 3000, 3)
    limited = both_paths(monkeypatch, data, max_rows=2000)
    assert limited[0] == limited[1] and limited[0][0] == "refused"


def test_a_reporting_file_is_read_by_the_fast_path(monkeypatch):
    from bench.bench_reporting_import import make_file

    got, expected, answered = both_paths(monkeypatch, make_file(300))
    assert answered and got == expected
    assert got[1].sheet("Actes").max_row == 301


@pytest.mark.parametrize("late", ["AB", "AA", "B", "D"])
def test_a_column_first_seen_in_a_later_block(monkeypatch, late):
    """The letters of a block are read again only when a cell's letters are new: a column
    first used far down the sheet (``AA`` after ``A``: letters, then digits) still counts."""
    rows = [f'<row r="{n}"><c r="A{n}"><v>{n}</v></c><c r="C{n}"><v>1</v></c></row>'
            for n in range(1, 6001)]
    rows[5000] = f'<row r="5001"><c r="A5001"><v>1</v></c><c r="{late}5001"><v>2</v></c></row>'
    data = rezip(good_xlsx(), replace={SHEET: sheet_xml("".join(rows))})
    got, expected, answered = both_paths(monkeypatch, data)
    assert answered and got == expected
    sheet = got[1].sheet("Offres")
    assert (sheet.min_col, sheet.max_col) == (1, {"AB": 28, "AA": 27, "B": 3, "D": 4}[late])


@pytest.mark.parametrize("cell, bounded", [
    ('<c r="A1" s="1" t="n"><v>1</v></c>', True), ('<c r="Z99999"/>', True),
    ('<c r="B2" t="inlineStr"><is><t>x</t></is></c>', True),
    ('<c r="AA1"><v>1</v></c>', False), ('<c r="A100000"><v>1</v></c>', False),
    ('<c><v>1</v></c>', False), ('<c s="1" r="A1"><v>1</v></c>', False),
    ('<c r="A1" r="XFD1048576"><v>1</v></c>', False), ('<c r="A1"\tr="ZZ9"><v>1</v></c>', False),
    ('<c\tr="A1"><v>1</v></c>', False), ('<x:c r="A1"><v>1</v></x:c>', False),
    ('<c r="a1"><v>1</v></c>', False), ('<c r="A1" x:r="ZZ9"><v>1</v></c>', False),
    ('<row r="1"><c r="A1"/></row><dimension ref="A1:XFD1048576"/>', False),
    ('<cols><col min="1" max="16384"/></cols>', True)])
def test_the_bound_accepts_only_plain_small_references(cell, bounded):
    """`_SheetBound`: a cell whose place calamine could read far away (no reference, two
    letters, six digits, a second ``r``, a prefix) leaves the bound; the others pass."""
    bound = safety._SheetBound("Feuille", safety._Limits(
        safety.DEFAULT_MAX_UNCOMPRESSED, safety.DEFAULT_MAX_RATIO, safety.DEFAULT_MAX_ROWS,
        safety.DEFAULT_MAX_COLS, safety.DEFAULT_MAX_MEMBERS, safety.DEFAULT_MAX_FILE_SIZE))
    xml = f'<worksheet><sheetData><row r="1">{cell}</row></sheetData></worksheet>'.encode()
    middle = len(xml) // 2  # cut anywhere: the same answer
    assert (bound.feed(xml[:middle]) and bound.feed(xml[middle:]) and bound.close()) is bounded
