"""Writer: typed cells, French formats, no formula injection, both openpyxl modes."""
import datetime as dt
import enum
import io
import time
import zipfile
from decimal import Decimal
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from fc_market.excel import writer
from fc_market.excel.reader import formula_cells, iter_sheet_rows
from fc_market.excel.writer import Column, Sheet, build_workbook, sanitize_title

MODES = pytest.mark.parametrize("write_only", [False, True], ids=["regular", "write_only"])


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure-Python tests: override the suite's database fixture (no app, no database)."""
    yield


def load(data):
    return load_workbook(io.BytesIO(data))


def sheet_xml(data, number=1):
    return zipfile.ZipFile(io.BytesIO(data)).read(f"xl/worksheets/sheet{number}.xml").decode()


class Status(enum.Enum):
    OPEN = "ouvert"


COLUMNS = [
    Column("buyer.name", "Acheteur"),
    Column("amount", "Montant HT", "decimal"),
    Column("quantity", "Quantité", "int"),
    Column("share", "Part", "percent"),
    Column("day", "Date", "date"),
    Column(lambda row: row["at"], "Déposée le", "datetime"),
    Column("active", "Actif", "bool"),
]
ROWS = [
    {"buyer": {"name": "Région Bretagne"}, "amount": Decimal("1234567.89"), "quantity": 12,
     "share": 0.255, "day": dt.date(2024, 3, 1), "at": dt.datetime(2024, 3, 1, 14, 30),
     "active": True},
    {"buyer": None, "amount": Decimal("0.10"), "quantity": None, "share": Decimal("1"),
     "day": dt.datetime(2024, 3, 2, 23, 59), "at": dt.date(2024, 3, 2), "active": False},
]


@MODES
def test_typed_cells_and_formats(write_only):
    data = build_workbook([Sheet("Offres", COLUMNS, ROWS)], write_only=write_only)
    sheet = load(data)["Offres"]
    header = [cell for cell in sheet[1]]
    assert [cell.value for cell in header] == [column.header for column in COLUMNS]
    assert all(cell.font.b for cell in header)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G3"

    name, amount, quantity, share, day, at, active = sheet[2]
    assert (name.value, name.data_type) == ("Région Bretagne", "s")
    assert amount.data_type == "n" and amount.number_format == '#,##0.00 "€"'
    assert Decimal(str(amount.value)) == Decimal("1234567.89")
    assert "<v>1234567.89</v>" in sheet_xml(data)  # written exactly, not 1234567.8899999
    assert quantity.value == 12 and type(quantity.value) is int
    assert quantity.number_format == "#,##0"
    assert share.value == 0.255 and share.number_format == "0.0%"
    assert day.value == dt.datetime(2024, 3, 1) and day.is_date
    assert day.number_format == "dd/mm/yyyy"
    assert at.value == dt.datetime(2024, 3, 1, 14, 30) and at.number_format == "dd/mm/yyyy hh:mm"
    assert active.value == "Oui"

    name, amount, quantity, share, day, at, active = sheet[3]
    assert name.value is None and quantity.value is None
    assert Decimal(str(amount.value)) == Decimal("0.1")
    assert share.value == 1
    assert day.value == dt.datetime(2024, 3, 2)  # a datetime in a date column: its date
    assert at.value == dt.datetime(2024, 3, 2, 0, 0)
    assert active.value == "Non"


@MODES
def test_column_widths(write_only):
    long_text = "Une dénomination particulièrement longue " * 5
    rows = [{"name": "Court", "amount": Decimal("123456789.12")}, {"name": long_text, "amount": 1}]
    columns = [Column("name", "Nom"), Column("amount", "Montant total HT", "decimal"),
               Column("x", "Réglée", "text", width=30)]
    sheet = load(build_workbook([Sheet("Offres", columns, rows)], write_only=write_only)).active
    widths = [sheet.column_dimensions[letter].width for letter in "ABC"]
    assert widths[0] == 60  # capped
    assert len("Montant total HT") < widths[1] < 30
    assert widths[2] == 30


DANGEROUS = ["=1+1", "+33 6 12 34 56 78", "-5", "@SUM(A1:A2)", "\tcmd", "\rcmd",
             '=HYPERLINK("http://evil.example","clic")', "=cmd|' /C calc'!A0"]


@MODES
def test_formula_injection_is_written_as_text(write_only):
    rows = [{"text": value, "amount": value} for value in DANGEROUS + ["#N/A", "normal"]]
    columns = [Column("text", "=Texte"), Column("amount", "Montant", "decimal")]
    data = build_workbook([Sheet("Offres", columns, rows)], write_only=write_only)
    xml = sheet_xml(data)
    assert "<f>" not in xml and "<f " not in xml and 't="e"' not in xml
    sheet = load(data).active
    assert sheet["A1"].value == "=Texte" and sheet["A1"].data_type == "s"
    for row, value in enumerate(DANGEROUS, start=2):
        for cell in sheet[row]:
            # the standard library's XML parser reads a raw CR as LF, lxml (which openpyxl uses
            # when installed) keeps it: either way the text is kept, as text
            assert cell.value in (value, value.replace("\r", "\n"))
            assert (cell.data_type, cell.quotePrefix) == ("s", True)
    na, normal = sheet[len(DANGEROUS) + 2], sheet[len(DANGEROUS) + 3]
    assert [(cell.value, cell.data_type, cell.quotePrefix) for cell in na] \
        == [("#N/A", "s", True)] * 2
    assert not normal[0].quotePrefix
    # read back by our own reader: plain strings, no formula anywhere
    assert formula_cells(data, "Offres") == []
    values = [record["=Texte"] for _, record in iter_sheet_rows(data, "Offres")]
    assert values == [value.strip() for value in DANGEROUS] + ["#N/A", "normal"]


@MODES
def test_text_cleaning(write_only):
    rows = [{"text": "bip\x07 fin\x00"}, {"text": "x" * 40_000}, {"text": Status.OPEN},
            {"text": 42}, {"text": ""}]
    sheet = load(build_workbook([Sheet("Offres", [Column("text", "Texte")], rows)],
                                write_only=write_only)).active
    assert sheet["A2"].value == "bip fin"
    assert len(sheet["A3"].value) == 32767
    assert sheet["A4"].value == "ouvert"
    assert sheet["A5"].value == "42" and sheet["A5"].data_type == "s"
    assert sheet["A6"].value is None


def test_aware_datetimes_keep_their_wall_clock_time():
    paris = dt.timezone(dt.timedelta(hours=2))
    rows = [{"at": dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.timezone.utc)},
            {"at": dt.datetime(2024, 6, 1, 14, 0, tzinfo=paris)}]
    sheet = load(build_workbook([Sheet("Journal", [Column("at", "Date (UTC)", "datetime")],
                                       rows)])).active
    assert [sheet["A2"].value, sheet["A3"].value] == [dt.datetime(2024, 6, 1, 12, 0),
                                                       dt.datetime(2024, 6, 1, 14, 0)]


@pytest.mark.parametrize("title, expected", [
    ("Offres", "Offres"),
    ("Offres: [2024] / lot 3?*\\", "Offres- -2024- - lot 3---"),
    ("Une feuille au titre vraiment beaucoup trop long", "Une feuille au titre vraiment b"),
    ("'Prix'", "Prix"),
    ("", "Feuille"),
    ("[]", "--"),
    ("History", "History-"),
])
def test_sanitize_title(title, expected):
    assert sanitize_title(title) == expected
    assert len(sanitize_title(title)) <= 31


def test_titles_in_a_workbook_are_valid_and_unique():
    columns = [Column("a", "A")]
    titles = ["Prix lot 01 : données", "Prix lot 01 : données", "PRIX LOT 01 - DONNÉES",
              "x" * 40, "x" * 40]
    data = build_workbook([Sheet(title, columns, [{"a": 1}]) for title in titles])
    assert load(data).sheetnames == ["Prix lot 01 - données", "Prix lot 01 - données (2)",
                                     "PRIX LOT 01 - DONNÉES (3)", "x" * 31, "x" * 27 + " (2)"]


def test_write_only_mode_is_chosen_from_the_row_count(monkeypatch):
    modes = []
    original = writer.Workbook

    def spy(write_only=False):
        modes.append(write_only)
        return original(write_only=write_only)

    monkeypatch.setattr(writer, "Workbook", spy)

    def rows(count):  # a generator: no len()
        return ({"a": number} for number in range(count))

    columns = [Column("a", "Numéro", "int")]
    small = build_workbook([Sheet("A", columns, rows(10))], threshold=10)
    large = build_workbook([Sheet("A", columns, rows(3)), Sheet("B", columns, rows(11))],
                           threshold=10)
    assert modes == [False, True]
    assert [cell.value for cell in load(small).active["A"]][1:] == list(range(10))
    workbook = load(large)
    assert [cell.value for cell in workbook["B"]["A"]][1:] == list(range(11))
    assert workbook["B"].auto_filter.ref == "A1:A12" and workbook["B"].freeze_panes == "A2"
    build_workbook([Sheet("A", columns, rows(5001))])
    assert modes[-1] is True and writer.WRITE_ONLY_THRESHOLD == 5000


def test_large_export_round_trip():
    rows = ({"name": f"Offre {n}", "amount": Decimal(n) / 4, "day": dt.date(2024, 1, 1)}
            for n in range(20_000))
    columns = [Column("name", "Nom"), Column("amount", "Montant", "decimal"),
               Column("day", "Date", "date")]
    started = time.perf_counter()
    data = build_workbook([Sheet("Offres", columns, rows)])
    elapsed = time.perf_counter() - started
    assert elapsed < 10, elapsed  # about 1 s here
    records = list(iter_sheet_rows(data, "Offres"))
    assert len(records) == 20_000
    assert records[-1] == (20_001, {"Nom": "Offre 19999", "Montant": 4999.75,
                                    "Date": dt.date(2024, 1, 1)})


def test_empty_export_and_invalid_definitions():
    data = build_workbook([Sheet("Vide", [Column("a", "A"), Column("b", "B")], [])])
    sheet = load(data).active
    assert [cell.value for cell in sheet[1]] == ["A", "B"] and sheet.auto_filter.ref == "A1:B1"
    with pytest.raises(ValueError):
        Column("a", "A", "money")
    with pytest.raises(ValueError):
        build_workbook([])
    with pytest.raises(ValueError):
        build_workbook([Sheet("Sans colonnes", [], [])])


def test_column_getters():
    row = SimpleNamespace(lot=SimpleNamespace(code="L01"), prices={"UO1": Decimal("10")})
    assert Column("lot.code", "Lot").value(row) == "L01"
    assert Column("lot.missing", "Lot").value(row) is None
    assert Column(lambda r: r.prices["UO1"], "Prix", "decimal").value(row) == Decimal("10")
    assert Column("a.b", "X").value({"a": {"b": 3}}) == 3
    assert Column("a.b", "X").value({"a": None}) is None
