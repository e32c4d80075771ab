"""Reader: typed rows from calamine, only after the safety check; formulas detected."""
import datetime as dt
import io
import random
import time
import zipfile
from decimal import Decimal

import pytest
from openpyxl import Workbook

from fc_market.excel import reader
from fc_market.excel.reader import (CheckedWorkbook, formula_cells, iter_raw_rows,
                                    iter_sheet_rows, open_checked)
from fc_market.excel.safety import UnsafeWorkbook, WorkbookError

SHEET = "xl/worksheets/sheet1.xml"
NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure-Python tests: override the suite's database fixture (no app, no database)."""
    yield


def xlsx(rows, title="Offres", cells=None):
    """Workbook bytes: *rows* appended from A1, then *cells* ({"C5": value}) set."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for ref, value in (cells or {}).items():
        sheet[ref] = value
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def replace_sheet(data, xml):
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = xml if info.filename == SHEET else source.read(info.filename)
            target.writestr(info.filename, content)
    return out.getvalue()


def sheet_xml(body, head=""):
    return f'<worksheet xmlns="{NS}">{head}<sheetData>{body}</sheetData></worksheet>'.encode()


HEADER = ["Nom", "Montant HT", "Quantité", "Date", "Horodatage", "Actif", "Commentaire"]


def test_typed_values():
    data = xlsx([
        HEADER,
        ["  Offre A  ", Decimal("1234.56"), 3, dt.date(2024, 1, 2), dt.datetime(2024, 1, 2, 3, 4),
         True, "   "],
        [],
        ["Offre B", 0.1, 2.5, None, None, False, "ligne\nsuivante"],
    ])
    rows = iter_sheet_rows(data, "Offres")
    assert rows.headers == HEADER
    assert rows.columns == dict(zip(HEADER, "ABCDEFG"))
    (first_number, first), (second_number, second) = list(rows)
    assert (first_number, second_number) == (2, 4)  # the blank row 3 is skipped
    assert first == {"Nom": "Offre A", "Montant HT": 1234.56, "Quantité": 3,
                     "Date": dt.date(2024, 1, 2), "Horodatage": dt.datetime(2024, 1, 2, 3, 4),
                     "Actif": True, "Commentaire": None}
    assert type(first["Quantité"]) is int and type(first["Date"]) is dt.date
    assert Decimal(str(first["Montant HT"])) == Decimal("1234.56")
    assert Decimal(str(second["Montant HT"])) == Decimal("0.1")
    assert second["Quantité"] == 2.5 and second["Date"] is None and second["Actif"] is False
    assert second["Commentaire"] == "ligne\nsuivante"


def test_header_away_from_a1_and_messy_headers():
    data = xlsx([], cells={"C3": "Montant\n HT", "D3": 2024, "F3": "Nom ", "C4": 10, "D4": 5,
                           "F4": "x", "D6": 7})
    rows = open_checked(data).iter_rows("Offres", header_row=3, required=["Montant HT", "Nom"])
    assert rows.headers == ["Montant HT", "2024", "Nom"]
    assert rows.columns == {"Montant HT": "C", "2024": "D", "Nom": "F"}
    assert list(rows) == [(4, {"Montant HT": 10, "2024": 5, "Nom": "x"}),
                          (6, {"Montant HT": None, "2024": 7, "Nom": None})]


def test_raw_rows_keep_absolute_columns():
    data = xlsx([], cells={"B2": "Nom", "C2": "Montant", "B3": "a", "C3": 1.5})
    assert list(iter_raw_rows(data, "Offres")) == [(2, [None, "Nom", "Montant"]),
                                                   (3, [None, "a", 1.5])]


def test_missing_duplicate_and_empty_headers():
    data = xlsx([HEADER, ["a"]])
    with pytest.raises(WorkbookError) as caught:
        iter_sheet_rows(data, "Offres", required=["Nom", "SIRET", "Lot"])
    assert caught.value.code == "missing_columns"
    assert caught.value.details == {"missing": ["SIRET", "Lot"]}
    assert "ne contient pas les colonnes attendues : « SIRET », « Lot »" in caught.value.message

    with pytest.raises(WorkbookError) as caught:
        iter_sheet_rows(xlsx([["Nom", "Montant", " Nom"], [1, 2, 3]]), "Offres")
    assert caught.value.code == "duplicate_columns"
    assert "« Nom » apparaît plusieurs fois" in caught.value.message

    with pytest.raises(WorkbookError) as caught:
        iter_sheet_rows(xlsx([[None], ["donnée"]], cells={"A1": None}), "Offres", header_row=3)
    assert caught.value.code == "header_missing"


def test_unknown_sheet():
    with pytest.raises(WorkbookError) as caught:
        iter_sheet_rows(xlsx([["Nom"]]), "Absente")
    assert caught.value.code == "sheet_not_found"
    assert "« Absente » est introuvable" in caught.value.message
    assert "« Offres »" in caught.value.message


# -- formulas ----------------------------------------------------------------------------------

FORMULAS = {"A1": "Nom", "B1": "=CONCAT(\"Mon\",\"tant\")", "A2": "x", "C5": "=SUM(B1:B4)",
            "D7": "=1+1"}


def test_formula_cells():
    data = xlsx([], cells=FORMULAS)
    assert formula_cells(data, "Offres") == ["B1", "C5", "D7"]
    assert formula_cells(data, "Offres", limit=2) == ["B1", "C5"]
    assert open_checked(data).formula_cells("Offres", limit=0) == []


def test_formulas_in_data_rows_are_refused_unless_allowed():
    data = xlsx([], cells=FORMULAS)
    with pytest.raises(WorkbookError) as caught:
        iter_sheet_rows(data, "Offres")
    error = caught.value
    assert error.code == "formulas"
    assert error.details == {"cells": ["C5", "D7"]}  # B1 is in the header row
    assert "contient des formules (2 cellules : C5, D7)" in error.message
    assert "Collage spécial > Valeurs" in error.message
    rows = list(iter_sheet_rows(data, "Offres", allow_formulas=True))
    assert [number for number, _ in rows] == [2]  # formula results are empty here
    # formulas only in the header row are fine
    header_only = xlsx([], cells={"A1": "Nom", "B1": "=\"Total\"", "A2": "x"})
    assert list(iter_sheet_rows(header_only, "Offres")) == [(2, {"Nom": "x"})]


def test_formula_scan_handles_shared_and_unreferenced_cells():
    body = ('<row r="1"><c r="A1" t="inlineStr"><is><t>Total</t></is></c></row>'
            '<row r="2"><c r="A2"><f t="shared" ref="A2:A3" si="0">B2*2</f><v>4</v></c></row>'
            '<row r="3"><c r="A3"><f t="shared" si="0"/><v>6</v></c>'
            '<c><f>A3+1</f><v>7</v></c></row>')
    data = replace_sheet(xlsx([["x"]]), sheet_xml(body))
    assert formula_cells(data, "Offres") == ["A2", "A3", "B3"]
    rows = list(iter_sheet_rows(data, "Offres", allow_formulas=True))
    assert rows == [(2, {"Total": 4}), (3, {"Total": 6})]  # calamine gives the cached results


# -- limits ------------------------------------------------------------------------------------

def test_real_rows_limit_not_the_declared_dimension():
    rows = [["Nom"]] + [[f"n{i}"] for i in range(50)]
    data = xlsx(rows)
    small_dimension = replace_sheet(data, zipfile.ZipFile(io.BytesIO(data)).read(SHEET)
                                    .replace(b'<dimension ref="A1:A51"', b'<dimension ref="A1:A2"'))
    for source in (data, small_dimension):
        with pytest.raises(WorkbookError) as caught:
            iter_sheet_rows(source, "Offres", max_rows=10)
        assert caught.value.code == "too_many_rows"
        assert "trop de lignes (50 ; maximum 10)" in caught.value.message
    assert len(list(iter_sheet_rows(data, "Offres", max_rows=50))) == 50
    big_dimension = replace_sheet(xlsx([["Nom"], ["a"]]), sheet_xml(
        '<row r="1"><c r="A1" t="inlineStr"><is><t>Nom</t></is></c></row>'
        '<row r="2"><c r="A2" t="inlineStr"><is><t>a</t></is></c></row>',
        '<dimension ref="A1:A150000"/>'))
    assert list(iter_sheet_rows(big_dimension, "Offres", max_rows=10)) == [(2, {"Nom": "a"})]


def test_limits_are_forwarded_to_the_safety_check():
    data = xlsx([["Nom", "Montant", "Date"], ["a", 1, 2]])
    with pytest.raises(UnsafeWorkbook) as caught:
        iter_sheet_rows(data, "Offres", max_cols=2)
    assert caught.value.code == "sheet_too_large"
    with pytest.raises(UnsafeWorkbook):
        open_checked(data, max_members=3)


def test_hostile_file_never_reaches_calamine(monkeypatch):
    class Forbidden:
        @staticmethod
        def from_filelike(*args):
            raise AssertionError("calamine must not be called")
        from_path = from_filelike

    monkeypatch.setattr(reader, "CalamineWorkbook", Forbidden)
    sparse = replace_sheet(xlsx([["x"]]), sheet_xml(
        '<row r="1"><c r="A1"><v>1</v></c></row>'
        '<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>'))
    with pytest.raises(UnsafeWorkbook) as caught:
        iter_sheet_rows(sparse, "Offres")
    assert caught.value.code == "sheet_too_large"
    with pytest.raises(TypeError):
        CheckedWorkbook(b"", None)


# -- corrupt files: always a WorkbookError -----------------------------------------------------

@pytest.mark.parametrize("body", [
    '<row r="1"><c r="A1" t="s"><v>99</v></c></row>',  # no such shared string
    '<row r="1"><c r="&#65;1"><v>1</v></c></row>',  # expat reads A1, calamine does not
    '<row r="1"><c r="A1" t="inlineStr"><is><t>Nom</t></is></c></row>'
    '<row r="2"><c r="A2" t="n"><v>pas un nombre</v></c></row>',
    '<row r="1"><c r="A1" t="b"><v>peut-être</v></c></row>',
])
def test_calamine_errors_become_workbook_errors(body):
    data = replace_sheet(xlsx([["x"]]), sheet_xml(body))
    with pytest.raises(WorkbookError) as caught:
        book = open_checked(data)
        list(book.iter_rows("Offres"))
    assert caught.value.code == "corrupt"
    assert caught.value.message.startswith("Le fichier Excel n'a pas pu être lu")


def read_everything(data):
    book = open_checked(data)
    for name in book.sheet_names:
        list(book.iter_rows(name, allow_formulas=True))
        list(book.raw_rows(name, allow_formulas=True))


def test_truncated_files_only_raise_workbook_errors():
    data = xlsx([HEADER] + [["Offre", 1.5, 2, dt.date(2024, 1, 1), None, True, "x"]] * 30)
    for cut in range(0, len(data), max(1, len(data) // 60)):
        with pytest.raises(WorkbookError):
            read_everything(data[:cut])


def test_damaged_bytes_only_raise_workbook_errors():
    data = xlsx([HEADER] + [["Offre", 1.5, 2, dt.date(2024, 1, 1), None, True, "x"]] * 30)
    generator = random.Random(20240101)
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(generator.randint(1, 3)):
            damaged[generator.randrange(len(damaged))] = generator.randrange(256)
        try:
            read_everything(bytes(damaged))
        except WorkbookError as error:
            assert error.message and error.code


# -- sources, performance ----------------------------------------------------------------------

def test_sources(tmp_path):
    data = xlsx([["Nom"], ["a"]])
    path = tmp_path / "offres.xlsx"
    path.write_bytes(data)

    class Upload:  # like werkzeug's FileStorage
        def __init__(self, content):
            self.stream = io.BytesIO(content)

        def read(self, size=-1):
            return self.stream.read(size)

        def seek(self, offset, whence=0):
            return self.stream.seek(offset, whence)

    upload = Upload(data)
    upload.read(10)  # already partly read: the whole file is used anyway
    for source in (data, bytearray(data), path, str(path), io.BytesIO(data), upload):
        with open_checked(source) as book:
            assert book.sheet_names == ["Offres"]
            assert list(book.iter_rows("Offres")) == [(2, {"Nom": "a"})]


def fast_xlsx(count):
    """A *count*-row workbook written directly as XML (openpyxl would take seconds)."""
    base = xlsx([[dt.date(2024, 1, 1)]])  # styles.xml gets a date format as style 1
    parts = ['<row r="1">' + "".join(
        f'<c r="{col}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for col, name in zip("ABCDE", ["Nom", "Montant", "Quantité", "Date", "Code"])) + "</row>"]
    for row in range(2, count + 2):
        parts.append(f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>Offre {row}</t></is></c>'
                     f'<c r="B{row}"><v>{row * 1.25}</v></c><c r="C{row}"><v>{row}</v></c>'
                     f'<c r="D{row}" s="1"><v>45293</v></c>'
                     f'<c r="E{row}" t="inlineStr"><is><t>  C{row:05d} </t></is></c></row>')
    return replace_sheet(base, sheet_xml("".join(parts)))


def test_twenty_thousand_rows_stream():
    data = fast_xlsx(20_000)
    count = 0
    for number, record in iter_sheet_rows(data, "Offres", required=["Nom", "Montant"]):
        count += 1
    assert count == 20_000
    assert (number, record) == (20_001, {"Nom": "Offre 20001", "Montant": 25001.25,
                                         "Quantité": 20001, "Date": dt.date(2024, 1, 2),
                                         "Code": "C20001"})

def _by_rows(chunks):
    return [(number, {key: values[i] for key, values in columns.items()})
            for numbers, columns in chunks for i, number in enumerate(numbers)]


def test_chunks_are_the_rows_by_column():
    """`SheetRows.chunks`: the rows iterating gives (numbers, cleaned values, blank rows
    skipped, selected and renamed), whatever the chunk's size; equal values of other types
    (1, 1.0, True) cleaned apart."""
    rows = [HEADER]
    for i in range(40):
        rows.append([f"  n{i % 3} ", float(i % 4), i % 4 == 1, dt.date(2024, 1, 1 + i % 5),
                     None, (1, 1.0, True, "x", " ")[i % 5], None])
    rows[7] = [None] * 7  # a blank row
    rows[12] = [None, None, None, None, None, None, "seul commentaire"]
    data = xlsx(rows)
    keys = {"Nom": "name", "Montant HT": "amount", "Actif": "active", "Quantité": "count"}
    with open_checked(data) as book:
        expected = list(book.iter_rows("Offres").select(keys))
    assert len(expected) == 39 and expected[6][0] == 9  # row 8 skipped, numbers kept
    assert [r["name"] for _, r in expected[:3]] == ["n0", "n1", "n2"]
    assert [type(r["active"]) for _, r in expected[:5]] == [int, int, bool, str, type(None)]
    for size in (1, 3, 39, 1000):
        with open_checked(data) as book:
            chunks = list(book.iter_rows("Offres").select(keys).chunks(size))
        assert _by_rows(chunks) == expected
        assert [[type(v) for v in r.values()] for _, r in _by_rows(chunks)] == \
            [[type(v) for v in r.values()] for _, r in expected]
        assert all(len(numbers) <= size and list(columns) == list(keys.values())
                   for numbers, columns in chunks)
    with open_checked(data) as book:
        whole = list(book.iter_rows("Offres"))
    with open_checked(data) as book:
        assert _by_rows(book.iter_rows("Offres").chunks(4)) == whole


def test_chunks_stop_at_the_row_limit_as_iterating_does():
    """The rows up to the limit, then the same refusal (calamine's rows given directly: the
    safety check's extent stops a longer sheet before)."""
    grid = [[f"n{i}", "" if i % 4 else " ", 2.0] for i in range(25)]
    headers, keys = [(0, "Nom"), (1, "Vide")], {"Nom": "name"}
    with open_checked(xlsx([["Nom"], ["a"]])) as book:
        rows, caught = [], None
        try:
            for row in book._generate_selected("Offres", iter(grid), headers, 1, 10, keys):
                rows.append(row)
        except WorkbookError as exc:
            caught = exc
        assert len(rows) == 10 and caught.code == "too_many_rows"
        for size in (3, 10, 100):
            chunks = []
            with pytest.raises(WorkbookError) as refused:
                for chunk in book._generate_chunks("Offres", iter(grid), headers, 1, 10, keys,
                                                   size):
                    chunks.append(chunk)
            assert _by_rows(chunks) == rows
            assert refused.value.message == caught.message


def test_a_bounded_sheet_counts_its_rows_on_calamine_grid():
    """``open_checked(prefetch=...)`` keeps the bound as the extent (``exact`` False): the
    reader counts the rows on the grid calamine decoded, with the same refusal and rows."""
    data = xlsx([["Nom"]] + [[f"n{i}"] for i in range(50)])
    with open_checked(data, prefetch="Offres") as book:
        assert not book.info.sheet("Offres").exact
        with pytest.raises(WorkbookError) as bounded:
            book.iter_rows("Offres", max_rows=10)
    with pytest.raises(WorkbookError) as exact:
        iter_sheet_rows(data, "Offres", max_rows=10)
    assert bounded.value.message == exact.value.message
    assert "trop de lignes (50 ; maximum 10)" in exact.value.message
    with open_checked(data, prefetch="Offres") as book:
        assert list(book.iter_rows("Offres", max_rows=50)) == list(iter_sheet_rows(data, "Offres"))
    with open_checked(xlsx([["Nom"]]), prefetch="Offres") as book:  # no data row
        assert list(book.iter_rows("Offres", max_rows=1)) == []
