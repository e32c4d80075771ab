"""Excel exports (every "Exporter vers Excel" button), built with openpyxl.

    build_workbook([
        Sheet("Offres", [
            Column("buyer.name", "Acheteur"),
            Column("amount", "Montant HT", "decimal"),
            Column(lambda offer: offer.submitted_at, "Déposée le", "datetime"),
        ], offers),
    ])  # -> bytes of an .xlsx file

Cells are typed: numbers and dates are real Excel numbers/dates with a French
display format. Excel has no time zones: an aware datetime is written with its
own wall-clock time (convert it first, e.g. to Europe/Paris or UTC as the
header says). ``Decimal`` amounts are handed to openpyxl as is, which writes
them with ``"%.16g"`` (16 significant digits): exact for any amount below
10^13 euros with cents; Excel itself stores every number as a 64-bit float.

Formula injection: a text starting with ``=``, ``+``, ``-``, ``@``, tab or CR
is stored as a plain string cell (``data_type = "s"``, never a formula) and
gets the "quote prefix" style, so Excel keeps it as text even when the user
edits it. Texts that openpyxl would store as error cells (``"#N/A"``...) are
forced the same way; characters forbidden in XML are removed. (A raw CR is
read back as LF by XML parsers, Excel included: the text stays a text.)

Header row in bold, frozen, with an auto-filter; column widths from the header
and the first rows. Above `WRITE_ONLY_THRESHOLD` rows in a sheet the workbook
is streamed with openpyxl's write-only mode.
"""
from __future__ import annotations

import datetime as dt
import enum
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain, islice
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, Union

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
WRITE_ONLY_THRESHOLD = 5000
NUMBER_FORMATS = {
    "text": None,
    "int": "#,##0",
    "number": "#,##0.00",  # a plain quantity that is not money (rates per 1,000…)
    "decimal": '#,##0.00 "€"',
    "percent": "0.0%",  # values are ratios: 0.25 is shown as 25,0 %
    "date": "dd/mm/yyyy",
    "datetime": "dd/mm/yyyy hh:mm",
    "bool": None,  # written as "Oui" / "Non"
}
_WIDTHS = {"int": 10, "number": 10, "decimal": 14, "percent": 9, "date": 11, "datetime": 16, "bool": 5}
_WIDTH_SAMPLE = 200
_MAX_WIDTH = 60
_DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_TITLE_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


#: row class -> whether it is a mapping (``isinstance(x, Mapping)`` is an ABC check, slow
#: when asked for every cell of a 20,000-row export)
_IS_MAPPING: dict = {}


def _is_mapping(value: Any) -> bool:
    kind = value.__class__
    found = _IS_MAPPING.get(kind)
    if found is None:
        found = _IS_MAPPING[kind] = isinstance(value, Mapping)
    return found


def _attribute_getter(path: str) -> Callable[[Any], Any]:
    parts = path.split(".")
    if len(parts) == 1:
        key = path

        def get_one(row: Any) -> Any:
            if row is None:
                return None
            return row.get(key) if _is_mapping(row) else getattr(row, key, None)

        return get_one

    def get(row: Any) -> Any:
        value = row
        for part in parts:
            if value is None:
                return None
            value = value.get(part) if _is_mapping(value) else getattr(value, part, None)
        return value

    return get


@dataclass(frozen=True)
class Column:
    """One exported column.

    *key* is a callable ``row -> value`` or an attribute / mapping key path
    (``"buyer.name"``); *kind* is one of `NUMBER_FORMATS`; *width* overrides
    the computed width (in characters).
    """

    key: Union[str, Callable[[Any], Any]]
    header: str
    kind: str = "text"
    width: Optional[float] = None
    get: Callable[[Any], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in NUMBER_FORMATS:
            raise ValueError(f"unknown column kind {self.kind!r}; expected one of "
                             f"{', '.join(NUMBER_FORMATS)}")
        getter = self.key if callable(self.key) else _attribute_getter(self.key)
        object.__setattr__(self, "get", getter)

    def value(self, row: Any) -> Any:
        """The raw value of this column for *row*."""
        return self.get(row)


@dataclass
class Sheet:
    """One worksheet: a title (sanitised on export), its columns and its rows."""

    title: str
    columns: Sequence[Column]
    rows: Iterable[Any] = ()


def clean_text(value: Any) -> tuple:
    """``(text, needs_forcing)``: *value* as a string Excel accepts (XML-safe, <= 32 767
    chars); *needs_forcing* when openpyxl or Excel would not keep it as a plain text
    (formula-like prefix, error code such as ``"#N/A"``)."""
    if isinstance(value, enum.Enum):
        value = value.value
    text = value if isinstance(value, str) else str(value)
    if not text.isprintable():  # fast path: a printable text has no XML-forbidden character
        text = ILLEGAL_CHARACTERS_RE.sub("", text)
    text = text[:32767]
    return text, text.startswith(_DANGEROUS_PREFIXES) or text in ERROR_CODES


def _naive(value: dt.datetime) -> dt.datetime:
    """Excel has no time zones: keep the wall-clock time of the zone the caller chose."""
    return value.replace(tzinfo=None)


def convert(kind: str, value: Any) -> tuple:
    """``(cell_value, force_text)`` for *value* written in a column of *kind*.

    ``force_text`` asks for a string cell with the quote prefix (see module doc).
    Values that do not fit the kind (a string in a number column...) are written
    as text rather than dropped.
    """
    if value is None:
        return None, False
    if kind in ("int", "number", "decimal", "percent"):
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
            if isinstance(value, Decimal) and not value.is_finite():
                return None, False
            if isinstance(value, float) and value != value:
                return None, False
            return value, False
    elif kind == "datetime":
        if isinstance(value, dt.datetime):
            return _naive(value), False
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time()), False
    elif kind == "date":
        if isinstance(value, dt.datetime):
            return _naive(value).date(), False
        if isinstance(value, dt.date):
            return value, False
    elif kind == "bool":
        if isinstance(value, bool):
            return ("Oui" if value else "Non"), False
    text, dangerous = clean_text(value)
    return (text or None), dangerous


def _convert_text(value: Any) -> tuple:
    """`convert` for a text column, with a fast path for the common printable string."""
    if value.__class__ is str and value.isprintable():
        text = value[:32767]
        return (text or None), text.startswith(_DANGEROUS_PREFIXES) or text in ERROR_CODES
    return convert("text", value)


def _converter(kind: str) -> Callable[[Any], tuple]:
    if kind == "text":
        return _convert_text
    return lambda value: convert(kind, value)


def sanitize_title(title: Any, used: Optional[set] = None) -> str:
    """A valid, unique worksheet title: no ``[]:*?/\\``, no edge quotes, <= 31 chars.

    *used* holds the lower-cased titles already taken; the result is added to it.
    """
    used = set() if used is None else used
    clean = _TITLE_FORBIDDEN.sub("-", str(title or "")).strip().strip("'").strip()
    clean = clean[:31].rstrip().rstrip("'") or "Feuille"
    if clean.lower() == "history":  # reserved by Excel
        clean = "History-"
    candidate, number = clean, 2
    while candidate.lower() in used:
        suffix = f" ({number})"
        candidate = clean[:31 - len(suffix)].rstrip() + suffix
        number += 1
    used.add(candidate.lower())
    return candidate


def _display_width(kind: str, value: Any) -> int:
    if value is None:
        return 0
    if kind == "decimal" and not isinstance(value, str):
        return len(f"{value:,.2f}") + 2
    if kind == "int" and not isinstance(value, str):
        return len(f"{value:,.0f}")
    if kind in _WIDTHS and not isinstance(value, str):
        return _WIDTHS[kind]
    return max((len(line) for line in str(value).splitlines()), default=0)


def _widths(columns: Sequence[Column], sample: list) -> list:
    widths = []
    for column in columns:
        longest = max((_display_width(column.kind, convert(column.kind, column.get(row))[0])
                       for row in sample), default=0)
        computed = max(len(column.header) + 4, longest + 2, _WIDTHS.get(column.kind, 8))
        widths.append(column.width or min(computed, _MAX_WIDTH))
    return widths


class _Plan:
    """A sheet ready to be written: sanitised title, sampled widths, rows iterator."""

    def __init__(self, sheet: Sheet, used_titles: set, threshold: int):
        if not sheet.columns:
            raise ValueError(f"sheet {sheet.title!r} has no columns")
        self.title = sanitize_title(sheet.title, used_titles)
        self.columns = list(sheet.columns)
        iterator = iter(sheet.rows)
        head = list(islice(iterator, threshold + 1))
        self.large = len(head) > threshold
        self.widths = _widths(self.columns, head[:_WIDTH_SAMPLE])
        self.rows: Iterator[Any] = chain(head, iterator)


def build_workbook(sheets: Sequence[Sheet], *, write_only: Optional[bool] = None,
                   threshold: int = WRITE_ONLY_THRESHOLD) -> bytes:
    """The ``.xlsx`` bytes of *sheets*.

    *write_only* forces openpyxl's streaming mode on or off; by default it is
    used when a sheet has more than *threshold* rows.
    """
    if not sheets:
        raise ValueError("a workbook needs at least one sheet")
    used: set = set()
    plans = [_Plan(sheet, used, threshold) for sheet in sheets]
    if write_only is None:
        write_only = any(plan.large for plan in plans)
    workbook = Workbook(write_only=write_only)
    workbook.properties.creator = "France compétences"
    if not write_only:
        workbook.remove(workbook.active)
    for plan in plans:
        worksheet = workbook.create_sheet(plan.title)
        for index, width in enumerate(plan.widths, start=1):
            worksheet.column_dimensions[get_column_letter(index)].width = width
        worksheet.freeze_panes = "A2"
        writer = _write_streaming if write_only else _write_cells
        last_row = writer(worksheet, plan)
        worksheet.auto_filter.ref = f"A1:{get_column_letter(len(plan.columns))}{last_row}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _style_header(cell: Any) -> Any:
    cell.font = _HEADER_FONT
    cell.fill = _HEADER_FILL
    return cell


def _set(cell: Any, value: Any, force_text: bool) -> None:
    """Assign *value*; a text never becomes a formula or an error cell."""
    cell.value = value
    if isinstance(value, str) and cell.data_type != "s":
        cell.data_type = "s"
    if force_text:
        cell.quotePrefix = True


def _write_cells(worksheet: Any, plan: _Plan) -> int:
    """Regular worksheet; returns the last row number."""
    for index, column in enumerate(plan.columns, start=1):
        header, dangerous = clean_text(column.header)
        _set(_style_header(worksheet.cell(row=1, column=index)), header, dangerous)
    formats = [NUMBER_FORMATS[column.kind] for column in plan.columns]
    row_number = 1
    for row_number, row in enumerate(plan.rows, start=2):
        for index, column in enumerate(plan.columns, start=1):
            value, force_text = convert(column.kind, column.get(row))
            if value is None:
                continue
            cell = worksheet.cell(row=row_number, column=index)
            _set(cell, value, force_text)
            if formats[index - 1] and not isinstance(value, str):
                cell.number_format = formats[index - 1]
    return row_number


def _write_streaming(worksheet: Any, plan: _Plan) -> int:
    """Write-only worksheet; returns the last row number.

    Safe texts are appended as plain values; other values go through one
    reusable *styled* cell per column and purpose (openpyxl serialises each
    appended row at once, and starts a fresh internal cell after a styled one,
    so these objects are never shared between two written cells).
    """
    headers = []
    for column in plan.columns:
        header, dangerous = clean_text(column.header)
        cell = _style_header(WriteOnlyCell(worksheet))
        _set(cell, header, dangerous)
        headers.append(cell)
    worksheet.append(headers)
    typed, quoted = [], []
    for column in plan.columns:
        cell = WriteOnlyCell(worksheet)
        cell.number_format = NUMBER_FORMATS[column.kind] or "General"  # only numbers and dates
        typed.append(cell)
        cell = WriteOnlyCell(worksheet)
        cell.quotePrefix = True
        quoted.append(cell)
    row_number = 1
    cells = [(index, column.get, _converter(column.kind))
             for index, column in enumerate(plan.columns)]
    for row_number, row in enumerate(plan.rows, start=2):
        values = []
        for index, get, converter in cells:
            value = get(row)
            if value is None:
                values.append(None)
                continue
            value, force_text = converter(value)
            if value is None:
                values.append(None)
                continue
            if force_text:
                cell = quoted[index]
            elif isinstance(value, str):  # a safe text: no cell object needed
                values.append(value)
                continue
            else:
                cell = typed[index]
            _set(cell, value, False)
            values.append(cell)
        worksheet.append(values)
    return row_number
