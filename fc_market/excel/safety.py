"""Safety checks run on an uploaded ``.xlsx`` before any parser touches it.

`check_xlsx` inspects the raw zip container with the standard library only and
raises `UnsafeWorkbook` (French ``message``, English ``code``) when the file is:

* not an ``.xlsx`` at all: CSV/HTML renamed, legacy OLE ``.xls`` (or an
  encrypted ``.xlsx``, which is an OLE container too), truncated or corrupt zip;
* a zip bomb: too many members, declared uncompressed total or ratio too high.
  Headers are not trusted: every member is inflated in bounded chunks (never
  more than its declared size) and its real size and CRC are verified;
* playing path tricks (absolute paths, ``..``), encrypted, duplicated members;
* carrying XML DOCTYPE/ENTITY declarations (XXE, billion laughs) or XML in an
  encoding the byte scan cannot see through (UTF-16...);
* carrying macros, OLE/ActiveX objects, external links or data connections;
* too big for the reader: declared ``<dimension>`` or the *real* extent of the
  cells above ``max_rows``/``max_cols`` (python-calamine allocates a dense
  rows x columns grid, so two far apart cells exhaust memory and abort the
  process), or a shared-strings ``uniqueCount`` it would pre-allocate.

Worksheets are parsed streaming with expat.  A regular sheet (plain cell references, no
formula, comment or DOCTYPE...) is read by `_FastSheetScan`: expat without element handlers
checks it is well-formed while compiled byte scans find the extent of its values; any
other sheet, and any sheet that scan would refuse, is parsed again by `_SheetScanner`, one
Python call per element, which records the cells holding formulas (see
`SheetInfo.formula_cells` and `fc_market.excel.reader.formula_cells`) and raises the
refusal.  Both give the same figures (tests/excel/test_safety_fast.py).
"""
from __future__ import annotations

import io
import os
import posixpath
import re
import struct
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterator, Optional, Union
from urllib.parse import unquote
from xml.etree import ElementTree
from xml.parsers import expat

MB = 1024 * 1024
DEFAULT_MAX_FILE_SIZE = 100 * MB
DEFAULT_MAX_UNCOMPRESSED = 200 * MB
DEFAULT_MAX_RATIO = 100
RATIO_MIN_SIZE = 1 * MB  # the ratio limit applies to members bigger than this
DEFAULT_MAX_MEMBERS = 1000
DEFAULT_MAX_ROWS = 200_000
DEFAULT_MAX_COLS = 200
#: Most cells in the rectangle a sheet's values span (declared or real): python-calamine
#: builds that whole grid, about 31 bytes a cell, so 4 million cells stay near 120 MB.  The
#: reporting template at its 200,000 rows × 11 columns is 2.2 million.
DEFAULT_MAX_GRID_CELLS = 4_000_000
FORMULA_CELLS_KEPT = 1000  # formula references remembered per sheet

_CHUNK = 64 * 1024
_MAX_PARSED_PART = 20 * MB  # [Content_Types].xml, workbook.xml, *.rels: parsed in memory
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_SML_NAMESPACES = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
                   "http://purl.oclc.org/ooxml/spreadsheetml/main", "")
_ASCII_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1",
                    "iso-8859-15", "windows-1252", "cp1252"}
_SML_NAMES = {f"{namespace}}}{local}" if namespace else local: local
              for namespace in _SML_NAMESPACES
              for local in ("c", "v", "is", "row", "f", "dimension")}
_DECLARATION = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ENCODING_DECL = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']")
_CELL_REF = re.compile(r"([A-Za-z]+)([0-9]+)")

Source = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", BinaryIO]

_SECURITY = "il a été refusé par mesure de sécurité."
_MESSAGES = {
    "not_xlsx": "Le fichier n'est pas un classeur Excel .xlsx valide. Ouvrez-le dans Excel et "
                "enregistrez-le au format « Classeur Excel (.xlsx) ».",
    "legacy_xls": "Le fichier n'est pas un classeur Excel .xlsx valide : il s'agit d'un ancien "
                  "classeur Excel 97-2003 (.xls) ou d'un classeur protégé par mot de passe. "
                  "Enregistrez-le au format « Classeur Excel (.xlsx) », sans mot de passe.",
    "corrupt": "Le fichier Excel est endommagé ou incomplet (téléversement interrompu ?). "
               "Ouvrez-le dans Excel, enregistrez-le à nouveau puis réessayez.",
    "too_many_parts": "Le classeur contient un nombre anormal d'éléments internes : " + _SECURITY,
    "zip_bomb": "Le classeur présente un taux de compression anormal (archive piégée) : "
                + _SECURITY,
    "unsafe_path": "Le classeur contient un chemin interne suspect : " + _SECURITY,
    "duplicate_part": "Le classeur contient des éléments internes en double : " + _SECURITY,
    "encrypted": "Le classeur est chiffré ou protégé par mot de passe. Enregistrez-le sans mot "
                 "de passe puis réessayez.",
    "unsupported_compression": "Le classeur utilise une compression non prise en charge. "
                               "Enregistrez-le à nouveau avec Excel puis réessayez.",
    "doctype": "Le classeur contient des déclarations XML interdites (DOCTYPE/ENTITY) : "
               + _SECURITY,
    "unsupported_encoding": "Le classeur contient des données XML dans un encodage non pris en "
                            "charge. Enregistrez-le à nouveau avec Excel puis réessayez.",
    "external_link": "Le classeur contient des liaisons vers des sources externes (autres "
                     "classeurs, connexions de données). Supprimez-les (Données > Modifier les "
                     "liens > Rompre le lien) puis réessayez.",
    "macro": "Le classeur contient des macros. Enregistrez-le au format « Classeur Excel "
             "(.xlsx) », sans macros, puis réessayez.",
    "embedded_object": "Le classeur contient des objets incorporés (OLE, ActiveX). "
                       "Supprimez-les puis réessayez.",
    "shared_strings": "La table des textes du classeur est incohérente : " + _SECURITY,
}


class WorkbookError(Exception):
    """A workbook that cannot be used.

    ``message`` is French and can be shown to the user as is; ``code`` is a
    short English slug for logs and tests; ``details`` is optional extra data
    (for instance the list of offending cells).
    """

    def __init__(self, message: str, code: str = "invalid", *, details: object = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details


class UnsafeWorkbook(WorkbookError):
    """The upload was refused before parsing (malformed or hostile container)."""


def _refuse(code: str, message: Optional[str] = None, **details: object) -> UnsafeWorkbook:
    return UnsafeWorkbook(message or _MESSAGES[code], code, details=details or None)


def _fmt(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f}".replace(".", ",").replace(",0", "")


@dataclass(frozen=True)
class SheetInfo:
    """One sheet of a checked workbook.

    ``part`` is the zip member holding the sheet XML (None when missing or for
    chart sheets); ``declared_rows``/``declared_cols`` come from ``<dimension>``
    (bottom-right corner); ``max_row``/``max_col`` are the real bottom-right
    corner of the cells holding a value; ``formula_cells`` lists (at most
    `FORMULA_CELLS_KEPT`) cells holding a formula, ``formula_count`` counts them all.
    """

    name: str
    kind: str  # "worksheet", "chartsheet" or "other"
    state: str  # "visible", "hidden" or "veryHidden"
    part: Optional[str]
    dimension: Optional[str] = None
    declared_rows: Optional[int] = None
    declared_cols: Optional[int] = None
    max_row: int = 0
    max_col: int = 0
    formula_cells: tuple = ()
    formula_count: int = 0
    #: Top-left corner of the cells holding a value (0 when the sheet has none)
    min_row: int = 0
    min_col: int = 0
    #: False (``check_xlsx(exact=False)``): the extent was bounded, not read (see
    #: `_SheetBound`): ``max_row``/``max_col`` are the bound, ``min_row``/``min_col`` 1; the
    #: reader takes the real extent from calamine's grid
    exact: bool = True

    @property
    def grid_cells(self) -> int:
        """Cells of the rectangle spanned by the values: the grid calamine materialises."""
        if not self.max_row:
            return 0
        return (self.max_row - self.min_row + 1) * (self.max_col - self.min_col + 1)


@dataclass(frozen=True)
class WorkbookInfo:
    """Result of `check_xlsx`: the sheets in workbook order."""

    sheets: tuple

    @property
    def sheet_names(self) -> list:
        return [sheet.name for sheet in self.sheets]

    def sheet(self, name: str) -> SheetInfo:
        """The sheet called *name*; `WorkbookError` (code ``sheet_not_found``) otherwise."""
        for sheet in self.sheets:
            if sheet.name == name:
                return sheet
        names = ", ".join(f"« {n} »" for n in self.sheet_names) or "aucune"
        raise WorkbookError(f"La feuille « {name} » est introuvable dans le classeur "
                            f"(feuilles présentes : {names}).", "sheet_not_found")


@dataclass(frozen=True)
class _Limits:
    max_uncompressed: int
    max_ratio: float
    max_rows: int
    max_cols: int
    max_members: int
    max_file_size: int
    max_grid_cells: int = DEFAULT_MAX_GRID_CELLS


def check_xlsx(source: Source, *, max_uncompressed: int = DEFAULT_MAX_UNCOMPRESSED,
               max_ratio: float = DEFAULT_MAX_RATIO, max_rows: int = DEFAULT_MAX_ROWS,
               max_cols: int = DEFAULT_MAX_COLS, max_members: int = DEFAULT_MAX_MEMBERS,
               max_file_size: int = DEFAULT_MAX_FILE_SIZE,
               max_grid_cells: int = DEFAULT_MAX_GRID_CELLS,
               on_bounded: Optional[Callable[[dict], None]] = None,
               exact: bool = True) -> WorkbookInfo:
    """Inspect *source* (bytes, path or seekable binary file) and describe its sheets.

    Raises `UnsafeWorkbook` when the file must not be handed to a parser.
    ``max_rows``/``max_cols`` bound the last row/column number used by a sheet
    (header included), both declared and real; ``max_grid_cells`` the area of the rectangle
    the values span (declared or real), which is what the reader will hold in memory.

    ``on_bounded({sheet name: kind})`` is called, once, as soon as what protects the
    reader's memory is proven: the container (member count, declared and real sizes, CRC,
    ratio, paths, encryption, forbidden parts and relationships), every part but the
    worksheets' XML well-formedness, the shared strings' ``uniqueCount`` and the sheets'
    extent (declared and real, grid cells).  The worksheets read by the fast scan are then
    inflated again and parsed by expat (the check the caller may overlap with calamine,
    which releases the GIL).  The answer is exactly the one without ``on_bounded``: any
    refusal, and any sheet expat rejects, makes the whole inspection run again the usual
    way, whose answer (figures or refusal) is returned.  The caller must not use what it
    started in ``on_bounded`` when this raises.

    With ``on_bounded``, a worksheet's extent is first bounded by one cheap pass
    (`_SheetBound`: columns A to Z, rows up to 99,999, within the limits), so calamine starts
    sooner; its exact figures are then read with expat.  ``exact=False`` (a caller reading
    the extent from calamine's grid instead, see `CheckedWorkbook`) skips them: such a sheet
    comes back with ``exact`` False and the bound as its extent; a sheet holding a formula
    is still read exactly (its cells are named).
    """
    limits = _Limits(max_uncompressed, max_ratio, max_rows, max_cols, max_members, max_file_size,
                     max_grid_cells)
    if on_bounded is not None:
        with _open_source(source) as fp:
            try:
                info = _Inspector(fp, limits, defer=True, exact=exact).run(on_bounded)
            except MemoryError:
                raise
            except Exception:  # any refusal: the usual inspection says which one
                info = None
        if info is not None:
            return info
    with _open_source(source) as fp:
        try:
            return _Inspector(fp, limits).run()
        except (WorkbookError, MemoryError):
            raise
        except Exception as exc:  # fail closed: anything unexpected in a hostile file
            raise _refuse("corrupt", error=f"{type(exc).__name__}: {exc}") from exc


@contextmanager
def _open_source(source: Source) -> Iterator[BinaryIO]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield io.BytesIO(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            handle = open(source, "rb")
        except OSError as exc:
            raise WorkbookError("Le fichier est introuvable ou illisible.", "unreadable") from exc
        with handle:
            yield handle
    elif hasattr(source, "read") and hasattr(source, "seek"):
        source.seek(0)
        yield source
    else:
        raise TypeError(f"unsupported workbook source: {type(source).__name__}")


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte char cut at the end is fine
        if exc.start < len(head) - 4:
            try:
                head.decode("cp1252")
            except UnicodeDecodeError:
                return False
    return True


def column_number(letters: str) -> int:
    """``"A"`` -> 1, ``"AB"`` -> 28 (case-insensitive)."""
    number = 0
    for char in letters.upper():
        number = number * 26 + ord(char) - 64
    return number


def column_letters(number: int) -> str:
    """1 -> ``"A"``, 28 -> ``"AB"``."""
    letters = ""
    while number > 0:
        number, rest = divmod(number - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def parse_cell_ref(ref: str) -> Optional[tuple]:
    """``"C5"`` -> (5, 3); None when *ref* is not a cell reference."""
    match = _CELL_REF.fullmatch(ref.replace("$", ""))
    if not match:
        return None
    return int(match.group(2)), column_number(match.group(1))


def _local(name: str) -> str:
    return name.rpartition("}")[2] if name[:1] == "{" else name.rpartition(":")[2]


class _XmlGuard:
    """Byte-level scan of an XML part for DOCTYPE/ENTITY declarations.

    Only meaningful on ASCII-compatible encodings, so anything else is refused
    (checked on the first 512 bytes, or the whole part when shorter).
    """

    def __init__(self, part: str, size: int, declarations: bool = True):
        self.part = part
        self.head_size = min(512, size)
        self.tail = b""
        self.head: Optional[bytes] = b""
        #: False: the encoding only (`_FastSheetScan` steps aside on any "<!")
        self.declarations = declarations

    def feed(self, chunk: bytes) -> None:
        if self.head is not None:
            self.head += chunk
            if len(self.head) >= self.head_size:
                self.close()
        if not self.declarations:
            return
        data = self.tail + chunk
        if _DECLARATION.search(data):
            raise _refuse("doctype", part=self.part)
        self.tail = data[-16:]

    def close(self) -> None:
        """End of the part (or enough of it): check its encoding."""
        if self.head is not None:
            head, self.head = self.head, None
            self._check_encoding(head)

    def _check_encoding(self, head: bytes) -> None:
        if head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        stripped = head.lstrip(b" \t\r\n")
        if b"\x00" in head[:4096] or (stripped and not stripped.startswith(b"<")):
            raise _refuse("unsupported_encoding", part=self.part)
        match = _ENCODING_DECL.match(stripped)
        if match and match.group(1).decode("ascii", "replace").lower() not in _ASCII_ENCODINGS:
            raise _refuse("unsupported_encoding", part=self.part)


class _SheetScanner:
    """Streaming expat pass over a worksheet: dimension, real extent, formulas.

    Mirrors how calamine places cells: ``<row r>`` / ``<c r>`` when present,
    otherwise the next row / column. Only cells with a ``<v>`` or ``<is>``
    child count for the extent (calamine skips the others).
    """

    def __init__(self, name: str, limits: _Limits):
        self.name = name
        self.limits = limits
        self.dimension = None
        self.declared = (None, None)
        self.row = self.col = 0
        self.row_suffix = ""
        self.columns: dict = {}  # column letters -> number, for the fast path
        self.cell = (0, 0, "")
        self.max_row = self.max_col = 0
        self.min_row = self.min_col = 0
        self.formulas: list = []
        self.formula_count = 0
        self.exact = True  # False: the extent is `_SheetBound`'s
        self.parser = expat.ParserCreate(namespace_separator="}")
        self.parser.StartElementHandler = self._start
        self.parser.StartDoctypeDeclHandler = self._doctype
        self.parser.EntityDeclHandler = self._doctype

    def feed(self, chunk: bytes, final: bool = False) -> None:
        try:
            self.parser.Parse(chunk, final)
        except expat.ExpatError as exc:
            raise _refuse("corrupt", _MESSAGES["corrupt"], part=self.name, error=str(exc)) from exc

    def _doctype(self, *args: object) -> None:
        raise _refuse("doctype", part=self.name)

    def _start(self, name: str, attrs: dict) -> None:
        local = _SML_NAMES.get(name)
        if local is None:
            return
        if local == "c":
            ref = attrs.get("r")
            position = None
            if ref:
                # fast path of _position, inlined: most cells are "<letters><row number>"
                suffix = self.row_suffix
                if suffix and ref.endswith(suffix):
                    column = self.columns.get(ref[:-len(suffix)])
                    if column:
                        position = (self.row, column)
                if position is None:
                    position = self._position(ref)
            if position:
                row, self.col = position
            else:
                row, self.col = self.row, self.col + 1
                ref = f"{column_letters(self.col)}{row}"
            self.cell = (row, self.col, ref)
        elif local == "v" or local == "is":
            row, col, ref = self.cell
            if (self.min_row <= row <= self.max_row and self.min_col <= col <= self.max_col
                    and self.min_row):
                return  # inside the extent already seen: nothing grows
            grown = False
            if row > self.max_row:
                self.max_row, grown = row, True
                if row > self.limits.max_rows:
                    raise self._too_large(f"{_fmt(row)} lignes", self.limits.max_rows, "lignes")
            if col > self.max_col:
                self.max_col, grown = col, True
                if col > self.limits.max_cols:
                    raise self._too_large(f"{_fmt(col)} colonnes", self.limits.max_cols, "colonnes")
            if row < self.min_row or not self.min_row:
                self.min_row, grown = row, True
            if col < self.min_col or not self.min_col:
                self.min_col, grown = col, True
            if grown:
                self._check_grid(self.min_row, self.min_col, self.max_row, self.max_col, ref)
        elif local == "row":
            value = attrs.get("r", "")
            self.row = int(value) if value.isdigit() else self.row + 1
            self.row_suffix = value
            self.col = 0
        elif local == "f":
            self.formula_count += 1
            if len(self.formulas) < FORMULA_CELLS_KEPT:
                self.formulas.append(self.cell[2].upper())
        elif local == "dimension":
            self._check_dimension(attrs.get("ref", ""))

    def _position(self, ref: str) -> Optional[tuple]:
        """(row, column) of a cell reference, fast path when it ends with the row number."""
        suffix = self.row_suffix
        if suffix and ref.endswith(suffix):
            column = self.columns.get(ref[:-len(suffix)])
            if column:
                return self.row, column
        position = parse_cell_ref(ref)
        letters = ref.rstrip("0123456789")
        if position and letters.isalpha() and len(self.columns) < 10_000:
            self.columns[letters] = position[1]
        return position

    def _check_dimension(self, ref: str) -> None:
        self.dimension = ref or None
        first, _, last = ref.rpartition(":") if ref else ("", "", "")
        corner = parse_cell_ref(last) if ref else None
        if corner is None:
            return
        self.declared = corner
        rows, cols = corner
        limits = self.limits
        if rows > limits.max_rows:
            raise self._too_large(f"{_fmt(rows)} lignes déclarées", limits.max_rows, "lignes")
        if cols > limits.max_cols:
            raise self._too_large(f"{_fmt(cols)} colonnes déclarées", limits.max_cols, "colonnes")
        top = parse_cell_ref(first) if first else corner
        if top is not None:
            self._check_grid(min(top[0], rows), min(top[1], cols), rows, cols, last.upper(),
                             declared=True)

    def _check_grid(self, top: int, left: int, bottom: int, right: int, far: str,
                    declared: bool = False) -> None:
        """Refuse a sheet whose values (or declared dimension) span a rectangle too large to
        hold: one value far from the others makes the reader build the whole grid between."""
        cells = (bottom - top + 1) * (right - left + 1)
        limit = self.limits.max_grid_cells
        if cells <= limit:
            return
        span = f"{column_letters(left)}{top}:{column_letters(right)}{bottom}"
        what = ("sa dimension déclarée couvre" if declared else "ses valeurs s'étendent sur")
        raise _refuse("sheet_too_large",
                      f"La feuille « {self.name} » est trop étendue : {what} la plage {span}, "
                      f"soit {_fmt(cells)} cellules (maximum {_fmt(limit)}). Supprimez les "
                      f"cellules remplies loin des données (par exemple {far}) et les lignes et "
                      "colonnes inutilisées, enregistrez puis réessayez.", sheet=self.name,
                      cells=cells, far=far)

    def _too_large(self, what: str, limit: int, unit: str) -> UnsafeWorkbook:
        return _refuse("sheet_too_large",
                       f"La feuille « {self.name} » est trop grande ({what}, maximum "
                       f"{_fmt(limit)} {unit}). Supprimez les lignes et colonnes inutilisées "
                       f"puis réessayez.", sheet=self.name)


#: Fast path of the worksheet scan (see `_FastSheetScan`)
_FAST_SML = {ns.encode() for ns in _SML_NAMESPACES}
_FAST_TAIL_MAX = 4 * MB
#: a cell followed by its first <v> or <is>, with no other cell in between: its column
#: letters and row number, or (the usual case: every cell has a value) its row number only
_FAST_VALUE_CELL = re.compile(rb'<c r="([A-Z]{1,3})([1-9][0-9]{0,6})"[^>]*>(?:<is>|<v>|'
                              rb"[^<]*(?:<(?!c[\s/>]|v[\s/>]|is[\s/>])[^<]*)*<(?:v|is)[\s/>])")
_FAST_VALUE_ROW = re.compile(rb'<c r="[A-Z]{1,3}([1-9][0-9]{0,6})"[^>]*>(?:<is>|<v>|'
                             rb"[^<]*(?:<(?!c[\s/>]|v[\s/>]|is[\s/>])[^<]*)*<(?:v|is)[\s/>])")
_FAST_LETTERS = re.compile(rb'<c r="([A-Z]{1,3})')
#: what the fast path does not read exactly (each found by a search of its own: one
#: pattern with many alternatives is slower): comment, CDATA, DOCTYPE, processing
#: instruction or formula; a prefixed element among those it reads; a <row> whose
#: attributes hold entities or non-ASCII (expat would decode them).  A cell without a
#: plain reference needs no search: if it holds a value, that value is left out of the
#: cells matched and the counts differ; if it holds none, it does not count
_FAST_ODD = tuple(re.compile(pattern) for pattern in (
    rb"<(?:[!?]|f[\s/>])", rb":(?:c|v|is|row|f|dimension)[\s/>]",
    rb"<row\s(?:[^>\"']|\"[^\"&\x80-\xff]*\"|'[^'&\x80-\xff]*')*[\"'][^\"'&\x80-\xff]*[&\x80-\xff]"))
_FAST_XMLNS = re.compile(rb"xmlns\s*=\s*[\"']([^\"']*)")
_FAST_DIMENSION = re.compile(rb"<dimension[\s/>]")
_FAST_PLAIN_DIMENSION = re.compile(rb'<dimension ref="([A-Za-z0-9:$]*)"\s*/>')


def _plain_dimensions(block: bytes, probe: "_SheetScanner") -> bool:
    """True when every ``<dimension>`` of *block* is a plain ``ref`` the limits admit
    (checked on *probe*, which keeps the declared corner); False: read the sheet the usual
    way, which says why."""
    refs = _FAST_PLAIN_DIMENSION.findall(block)
    if len(refs) != len(_FAST_DIMENSION.findall(block)):
        return False
    try:
        for ref in refs:
            probe._check_dimension(ref.decode("ascii"))
    except UnsafeWorkbook:
        return False
    return True


class _FastSheetScan:
    """The worksheet scan without a Python call per XML element, for the usual sheet.

    expat still parses every byte (well-formedness, same errors), but with no element
    handler; the figures `_SheetScanner` computes (extent of the cells holding a value,
    dimension) are read with compiled regular expressions on blocks of the inflated XML cut
    at a cell's start, so a cell and its value are always in the same block.  The fast
    path only answers for a sheet it can read exactly: every cell holding a value carries a
    plain ``r="A1"`` reference as first attribute, no comment, CDATA, processing instruction or DOCTYPE,
    no namespace prefix on the elements the scan reads, no foreign default namespace, no
    formula, every ``<v>``/``<is>`` follows its cell, plain ``<row>`` attributes and
    ``<dimension>``.  Anything else, or anything it would refuse, makes `feed` or `close`
    return False: the caller then scans the part again with `_SheetScanner`, which finds
    the same figures or raises the same refusal as before.
    """

    def __init__(self, name: str, limits: _Limits, parse: bool = True):
        self.name = name
        self.limits = limits
        self.probe = _SheetScanner(name, limits)  # dimension checks, on a scratch copy
        #: ``parse=False``: expat's well-formedness is checked later (`_Inspector._verify`)
        self.parser = expat.ParserCreate(namespace_separator="}") if parse else None
        self.tail = b""
        self.start = True
        self.letters: set = set()
        self.rows: set = set()

    def feed(self, chunk: bytes) -> bool:
        if self.parser is not None:
            try:
                self.parser.Parse(chunk, False)
            except expat.ExpatError:
                return False
        data = self.tail + chunk if self.tail else chunk
        cut = data.rfind(b"<c")
        if cut <= 0:
            self.tail = data
            return len(data) <= _FAST_TAIL_MAX
        self.tail = data[cut:]
        return self._block(data[:cut])

    def close(self) -> bool:
        if self.parser is not None:
            try:
                self.parser.Parse(b"", True)
            except expat.ExpatError:
                return False
        block, self.tail = self.tail, b""
        if not self._block(block):
            return False
        rows = self.rows
        cols = [column_number(letters.decode("ascii")) for letters in self.letters]
        probe, limits = self.probe, self.limits
        if rows:
            probe.min_row, probe.max_row = min(rows), max(rows)
            probe.min_col, probe.max_col = min(cols), max(cols)
            if (probe.max_row > limits.max_rows or probe.max_col > limits.max_cols
                    or (probe.max_row - probe.min_row + 1) * (probe.max_col - probe.min_col + 1)
                    > limits.max_grid_cells):
                return False
        return True

    def _block(self, block: bytes) -> bool:
        begin = 0
        if self.start:  # the XML declaration, and only it, may open the part
            self.start = False
            begin = block.find(b"<")
            if block.startswith(b"<?xml", begin):
                begin = block.find(b"?>", begin)
                if begin < 0:
                    return False
        begin = max(begin, 0)
        for pattern in _FAST_ODD:
            if pattern.search(block, begin):
                return False
        if any(ns not in _FAST_SML for ns in _FAST_XMLNS.findall(block)):
            return False
        if b"<dimension" in block and not _plain_dimensions(block, self.probe):
            return False
        rows = _FAST_VALUE_ROW.findall(block)
        # every tag named v... or is... is the value of the cell just before it
        if len(rows) != block.count(b"<v") + block.count(b"<is"):
            return False
        if not rows:
            return True
        numbers = [int(digits) for digits in set(rows)]  # min and max only: flat memory
        self.rows.update((min(numbers), max(numbers)))
        if len(self.rows) > 2:
            self.rows = {min(self.rows), max(self.rows)}
        if len(rows) == block.count(b'<c r="'):  # every cell has a value: their letters
            # (each a plain reference, letters then digits): read only when a cell's letters
            # are not among those already found, which one search tells
            if self.letters:
                others = re.compile(rb'<c r="(?!(?:' + b"|".join(sorted(self.letters))
                                    + rb")[0-9])")
                if others.search(block) is None:
                    return True
            self.letters.update(_FAST_LETTERS.findall(block))
        else:  # some cells have none: the letters of those having one
            self.letters.update(letters for letters, _ in _FAST_VALUE_CELL.findall(block))
        return True

    def apply(self, scanner: "_SheetScanner") -> None:
        """Copy the figures into the scanner the inspection reads (`_Inspector._finish`)."""
        probe = self.probe
        scanner.dimension, scanner.declared = probe.dimension, probe.declared
        scanner.min_row, scanner.max_row = probe.min_row, probe.max_row
        scanner.min_col, scanner.max_col = probe.min_col, probe.max_col


#: The bound `_SheetBound` proves: columns A to Z, rows 1 to 99,999 (one letter, at most five
#: digits), within the default limits
_BOUND_COLS, _BOUND_ROWS = 26, 99_999
#: a cell element (name ``c`` then a space, "/" or ">") not opening with a plain ``r`` of one
#: letter and at most five digits, followed by unprefixed attributes other than ``r`` only
#: (possessive: nothing to give back, searched a fifth faster)
_BOUND_ODD_CELL = re.compile(rb'<c(?! r="[A-Z][0-9]{1,5}+"'
                             rb'(?: (?!r=)[A-Za-z][A-Za-z0-9]*+="[^"<>&]*+")*+/?>)(?=[\s/>])')
_BOUND_PREFIXED = re.compile(rb":(?:c|f|dimension)[\s/>]")
#: a formula element (``exact=False``: a sheet holding one is read exactly, see
#: `_Inspector._well_formed`)
_BOUND_FORMULA = re.compile(rb"<f[\s/>]")


class _SheetBound:
    """A worksheet's extent bounded in one cheap pass, before calamine may start (see
    `check_xlsx`'s ``on_bounded``): every cell element opens with a plain ``r`` of one letter
    and at most five digits (`_BOUND_ODD_CELL`: calamine takes a cell's place from it, the
    file's only way to make it hold a larger grid), no prefixed cell or dimension (calamine
    reads local names), every ``<dimension>`` plain and within the limits (calamine reserves
    what it declares).  The search is on raw bytes: a ``<c`` inside a comment, a CDATA
    section or a text can only make it answer False.  False: the sheet is read by
    `_FastSheetScan` first, as without the bound; True: its exact figures are read after
    calamine has started (`_Inspector._verify`), in the same pass as expat."""

    def __init__(self, name: str, limits: _Limits):
        self.probe = _SheetScanner(name, limits)  # dimension checks, on a scratch copy
        self.tail = b""

    @staticmethod
    def applies(limits: _Limits) -> bool:
        """The bound proves the extent only within limits at least as wide."""
        return (limits.max_cols >= _BOUND_COLS and limits.max_rows >= _BOUND_ROWS
                and limits.max_grid_cells >= _BOUND_COLS * _BOUND_ROWS)

    def feed(self, chunk: bytes) -> bool:
        data = self.tail + chunk if self.tail else chunk
        cut = data.rfind(b"<")  # every tag before the last "<" is whole
        if cut < 0:
            self.tail = data
            return len(data) <= _FAST_TAIL_MAX
        self.tail = data[cut:]
        return len(self.tail) <= _FAST_TAIL_MAX and self._block(data[:cut])

    def close(self) -> bool:
        block, self.tail = self.tail, b""
        return self._block(block)

    def apply(self, scanner: "_SheetScanner") -> None:
        """The bound as the scanner's figures (``check_xlsx(exact=False)``): the declared
        dimension as read, the extent the bound's."""
        probe = self.probe
        scanner.dimension, scanner.declared = probe.dimension, probe.declared
        scanner.min_row = scanner.min_col = 1
        scanner.max_row, scanner.max_col = _BOUND_ROWS, _BOUND_COLS
        scanner.exact = False

    def _block(self, block: bytes) -> bool:
        if _BOUND_ODD_CELL.search(block) or _BOUND_PREFIXED.search(block):
            return False
        if b"<dimension" in block and not _plain_dimensions(block, self.probe):
            return False
        return True


def _inflate_raw(raw: Iterator[bytes], info: zipfile.ZipInfo) -> Iterator[bytes]:
    """Inflate a raw deflate stream, at most `_CHUNK` bytes of output per step."""
    inflater = zlib.decompressobj(-15)
    for data in raw:
        while True:
            out = inflater.decompress(data, _CHUNK)
            if out:
                yield out
            if inflater.eof:
                return
            data = inflater.unconsumed_tail
            if not data and len(out) < _CHUNK:
                break
    raise _refuse("corrupt", part=info.filename)  # compressed data ended before the stream


class _SharedStringsScanner:
    """Reads ``uniqueCount`` on ``<sst>``: calamine reserves that many strings upfront."""

    def __init__(self, part: str, size: int):
        self.part = part
        self.size = size
        self.done = False
        self.parser = expat.ParserCreate()
        self.parser.StartElementHandler = self._start

    def feed(self, chunk: bytes) -> None:
        if not self.done:
            try:
                self.parser.Parse(chunk, False)
            except expat.ExpatError as exc:
                raise _refuse("corrupt", part=self.part, error=str(exc)) from exc

    def _start(self, name: str, attrs: dict) -> None:
        if self.done or _local(name) != "sst":
            self.done = True
            return
        self.done = True
        for key, value in attrs.items():
            # every <si> takes at least 5 bytes ("<si/>")
            if _local(key) == "uniqueCount" and value.strip().isdigit() \
                    and int(value) > self.size // 5 + 1000:
                raise _refuse("shared_strings", part=self.part)


def _forbidden_part(key: str) -> Optional[str]:
    """Code for a (lower-cased) member name that reveals active or external content."""
    base = key.rpartition("/")[2]
    if base in ("vbaproject.bin", "vbaprojectsignature.bin", "vbaprojectsignatureagile.bin") \
            or key.startswith(("xl/macrosheets/", "xl/dialogsheets/")):
        return "macro"
    if key.startswith(("xl/externallinks/", "xl/querytables/")) or key == "xl/connections.xml":
        return "external_link"
    if key.startswith(("xl/embeddings/", "xl/activex/")) or "oleobject" in base:
        return "embedded_object"
    return None


_FORBIDDEN_RELATIONSHIPS = {
    "vbaproject": "macro", "macrosheet": "macro", "xlmacrosheet": "macro",
    "xlintlmacrosheet": "macro", "dialogsheet": "macro",
    "externallink": "external_link", "externallinkpath": "external_link",
    "connections": "external_link", "querytable": "external_link",
    "oleobject": "embedded_object", "package": "embedded_object", "control": "embedded_object",
    "activexcontrol": "embedded_object", "activexcontrolbinary": "embedded_object",
}
_FORBIDDEN_CONTENT_TYPES = (
    ("vbaproject", "macro"), ("macroenabled", "macro"), ("macrosheet", "macro"),
    ("dialogsheet", "macro"), ("externallink", "external_link"),
    ("connections+xml", "external_link"), ("querytable", "external_link"),
    ("oleobject", "embedded_object"), ("activex", "embedded_object"),
)


def _forbidden_relationship(kind: str) -> Optional[str]:
    """Code for a (lower-cased) relationship type revealing active or external content."""
    return _FORBIDDEN_RELATIONSHIPS.get(kind.rstrip("/").rpartition("/")[2])


def _forbidden_content_type(content_type: str) -> Optional[str]:
    """Code for a (lower-cased) content type revealing active or external content."""
    return next((code for word, code in _FORBIDDEN_CONTENT_TYPES if word in content_type), None)


def _check_member_name(name: str) -> None:
    segments = name.split("/")
    if (name.startswith("/") or "\\" in name or ".." in segments or re.match(r"[A-Za-z]:", name)
            or any(ord(char) < 32 for char in name)):
        raise _refuse("unsafe_path", part=name)


def _resolve(base_dir: str, target: str) -> str:
    """Zip member named by a relationship *target* relative to *base_dir*."""
    path = target[1:] if target.startswith("/") else posixpath.join(base_dir, target)
    path = posixpath.normpath(path)
    if path == ".." or path.startswith("../") or "\\" in path:
        raise _refuse("unsafe_path", part=target)
    return path


class _Inspector:
    """One inspection of one archive (see `check_xlsx`)."""

    def __init__(self, fp: BinaryIO, limits: _Limits, defer: bool = False,
                 exact: bool = True):
        self.fp = fp
        self.limits = limits
        #: False: a sheet `_SheetBound` bounds keeps the bound as its extent (`check_xlsx`)
        self.exact = exact
        self.members: dict = {}  # lower-cased name -> ZipInfo
        self.done: set = set()
        #: ``defer``: the fast scan leaves expat to `_verify` (see `check_xlsx`'s on_bounded)
        self.defer = defer
        self.deferred: list = []  # members the fast scan read without expat

    def run(self, on_bounded: Optional[Callable[[dict], None]] = None) -> WorkbookInfo:
        self._sniff()
        try:
            archive = zipfile.ZipFile(self.fp)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise _refuse("corrupt", error=str(exc)) from exc
        with archive:
            self._check_directory(archive.infolist())
            for required in ("[content_types].xml", "xl/workbook.xml"):
                if required not in self.members:
                    raise _refuse("not_xlsx", missing=required)
            self._check_content_types(self._read_xml("[content_types].xml"))
            rels = self._read_rels("xl/_rels/workbook.xml.rels", workbook=True)
            sheets = self._read_workbook(self._read_xml("xl/workbook.xml"), rels)
            shared = next((_resolve("xl", t) for t, kind, _ in rels.values()
                           if kind.endswith("/sharedstrings")), "xl/sharedstrings.xml")
            scanners = {}
            for sheet in sheets:
                if sheet.kind == "worksheet" and sheet.part:
                    scanners[sheet.part.lower()] = _SheetScanner(sheet.name, self.limits)
            xml_parts = {_resolve("xl", t).lower() for t, _, mode in rels.values()
                         if mode != "external"}
            for key, info in self.members.items():
                if key not in self.done:
                    self._scan_member(key, info, scanners.get(key), key in xml_parts,
                                      key == shared.lower())
            if on_bounded is not None:
                on_bounded({sheet.name: sheet.kind for sheet in sheets})
            if not self._verify():
                raise _refuse("corrupt")  # check_xlsx then runs the usual inspection
        return WorkbookInfo(tuple(self._finish(sheet, scanners) for sheet in sheets))

    # -- container ---------------------------------------------------------
    def _sniff(self) -> None:
        size = self.fp.seek(0, io.SEEK_END)
        if size > self.limits.max_file_size:
            raise _refuse("file_too_large",
                          f"Le fichier est trop volumineux ({_megabytes(size)} Mo, maximum "
                          f"{_megabytes(self.limits.max_file_size)} Mo).")
        self.fp.seek(0)
        head = self.fp.read(512)
        if head.startswith(_OLE_MAGIC):
            raise _refuse("legacy_xls")
        if not head.startswith(_ZIP_MAGIC):
            if not head:
                raise _refuse("not_xlsx", "Le fichier est vide.")
            if _looks_like_text(head):
                raise _refuse("not_xlsx", _MESSAGES["not_xlsx"].replace(
                    "valide.", "valide (il semble s'agir d'un fichier texte, CSV ou HTML, "
                               "renommé en .xlsx)."))
            raise _refuse("not_xlsx")

    def _check_directory(self, infos: list) -> None:
        limits = self.limits
        if len(infos) > limits.max_members:
            raise _refuse("too_many_parts", count=len(infos))
        total = 0
        for info in infos:
            _check_member_name(info.filename)
            key = info.filename.lower()
            if key in self.members:
                raise _refuse("duplicate_part", part=info.filename)
            self.members[key] = info
            if info.flag_bits & 0x41:
                raise _refuse("encrypted", part=info.filename)
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _refuse("unsupported_compression", part=info.filename)
            total += info.file_size
            if total > limits.max_uncompressed:
                raise _refuse("zip_bomb",
                              f"Une fois décompressé, le classeur dépasse la taille autorisée "
                              f"({_megabytes(limits.max_uncompressed)} Mo) : {_SECURITY}")
            if info.file_size > RATIO_MIN_SIZE and \
                    info.file_size > limits.max_ratio * max(info.compress_size, 1):
                raise _refuse("zip_bomb", part=info.filename)
            code = _forbidden_part(key)
            if code:
                raise _refuse(code, part=info.filename)

    def _inflate(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """Yield the real content of *info*, never more than its declared size.

        The raw data is read from the local header on and inflated in bounded
        steps: a member lying about its size is stopped as soon as it goes past
        it, and the real size and CRC are checked at the end.
        """
        self._seek_data(info)
        raw = self._raw_chunks(info)
        chunks = raw if info.compress_type == zipfile.ZIP_STORED else _inflate_raw(raw, info)
        size, crc = 0, 0
        try:
            for chunk in chunks:
                size += len(chunk)
                if size > info.file_size:
                    raise _refuse("zip_bomb",
                                  "La taille réelle d'un élément du classeur dépasse sa taille "
                                  f"déclarée : {_SECURITY}", part=info.filename)
                crc = zlib.crc32(chunk, crc)
                yield chunk
        except zlib.error as exc:
            raise _refuse("corrupt", part=info.filename, error=str(exc)) from exc
        if size != info.file_size or crc != info.CRC:
            raise _refuse("corrupt", part=info.filename)

    def _seek_data(self, info: zipfile.ZipInfo) -> None:
        fp = self.fp
        fp.seek(info.header_offset)
        header = fp.read(30)
        if len(header) < 30 or not header.startswith(_ZIP_MAGIC):
            raise _refuse("corrupt", part=info.filename)
        name_len, extra_len = struct.unpack("<HH", header[26:30])
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        if fp.read(name_len).decode(encoding, "replace") != info.orig_filename:
            raise _refuse("corrupt", part=info.filename)
        fp.seek(extra_len, io.SEEK_CUR)

    def _raw_chunks(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        remaining = info.compress_size
        while remaining > 0:
            data = self.fp.read(min(_CHUNK, remaining))
            if not data:
                raise _refuse("corrupt", part=info.filename)
            remaining -= len(data)
            yield data

    # -- parts ---------------------------------------------------------------
    def _read_xml(self, key: str) -> ElementTree.Element:
        """Verify, guard and parse a small XML part."""
        info = self.members[key]
        self.done.add(key)
        if info.file_size > _MAX_PARSED_PART:
            raise _refuse("zip_bomb", part=info.filename)
        guard = _XmlGuard(info.filename, info.file_size)
        chunks = []
        for chunk in self._inflate(info):
            guard.feed(chunk)
            chunks.append(chunk)
        guard.close()
        try:
            return ElementTree.fromstring(b"".join(chunks))
        except ElementTree.ParseError as exc:
            raise _refuse("corrupt", part=info.filename, error=str(exc)) from exc

    def _check_content_types(self, root: ElementTree.Element) -> None:
        for element in root:
            if _local(element.tag) == "Override":
                code = _forbidden_content_type(element.get("ContentType", "").lower())
                if code:
                    raise _refuse(code, part=element.get("PartName"))

    def _read_rels(self, key: str, workbook: bool = False) -> dict:
        """Check a relationships part; return ``{Id: (target, type, mode)}``."""
        if key not in self.members:
            if workbook:
                raise _refuse("corrupt", missing=key)
            return {}
        relations = {}
        for element in self._read_xml(key):
            kind = element.get("Type", "").lower()
            mode = element.get("TargetMode", "").lower()
            target = element.get("Target", "")
            code = _forbidden_relationship(kind)
            if mode == "external" and not code and (workbook or not kind.endswith("/hyperlink")):
                code = "external_link"
            if code:
                raise _refuse(code, part=key, target=target)
            relations[element.get("Id")] = (target, kind, mode)
        return relations

    def _read_workbook(self, root: ElementTree.Element, rels: dict) -> list:
        sheets = []
        for element in root.iter():
            if _local(element.tag) != "sheet":
                continue
            rel_id = next((v for k, v in element.attrib.items() if _local(k) == "id"), None)
            target, kind, _ = rels.get(rel_id, ("", "", ""))
            sheet_kind = next((k for k in ("worksheet", "chartsheet") if kind.endswith("/" + k)),
                              "other")
            part = self._member(_resolve("xl", target)) if target else None
            if sheet_kind == "worksheet" and part is None:
                raise _refuse("corrupt", sheet=element.get("name"))
            sheets.append(SheetInfo(name=element.get("name", ""), kind=sheet_kind,
                                    state=element.get("state", "visible"), part=part))
        return sheets

    def _member(self, path: str) -> Optional[str]:
        for candidate in (path, unquote(path)):
            info = self.members.get(candidate.lower())
            if info is not None:
                return info.filename
        return None

    def _scan_member(self, key: str, info: zipfile.ZipInfo, scanner: Optional[_SheetScanner],
                     referenced: bool, shared_strings: bool) -> None:
        if key.endswith(".rels"):
            self._read_rels(key)
            return
        if scanner is not None and self.defer and _SheetBound.applies(self.limits) \
                and self._bound_scan(info, scanner, shared_strings):
            self.deferred.append((info, scanner))  # exact figures and expat: `_verify`
            return
        if scanner is not None and self._fast_scan(info, scanner, shared_strings):
            return
        guard = None
        if referenced or scanner or key.endswith((".xml", ".vml")):
            guard = _XmlGuard(info.filename, info.file_size)
        strings = _SharedStringsScanner(info.filename, info.file_size) if shared_strings else None
        for chunk in self._inflate(info):
            if guard:
                guard.feed(chunk)
            if scanner:
                scanner.feed(chunk)
            if strings:
                strings.feed(chunk)
        if guard:
            guard.close()
        if scanner:
            scanner.feed(b"", final=True)

    def _fast_scan(self, info: zipfile.ZipInfo, scanner: _SheetScanner,
                   shared_strings: bool) -> bool:
        """A worksheet through `_FastSheetScan`; False when it must be scanned again the
        usual way (from the start: nothing of this attempt is kept but its refusals, which
        are the ones that scan raises first too: size, CRC, DOCTYPE, encoding)."""
        fast = _FastSheetScan(scanner.name, self.limits, parse=not self.defer)
        # a DOCTYPE or ENTITY makes the fast scan step aside: the full scan refuses it
        guard = _XmlGuard(info.filename, info.file_size, declarations=False)
        strings = _SharedStringsScanner(info.filename, info.file_size) if shared_strings else None
        for chunk in self._inflate(info):
            guard.feed(chunk)
            if not fast.feed(chunk):
                return False
            if strings:
                strings.feed(chunk)
        guard.close()
        if not fast.close():
            return False
        fast.apply(scanner)
        if self.defer:
            self.deferred.append((info, None))  # expat: `_verify`
        return True

    def _bound_scan(self, info: zipfile.ZipInfo, scanner: _SheetScanner,
                    shared_strings: bool) -> bool:
        """A worksheet's extent bounded by `_SheetBound`; False when it must be read by
        `_fast_scan` first (its refusals are the ones that scan raises first too: size,
        CRC, DOCTYPE, encoding)."""
        bound = _SheetBound(scanner.name, self.limits)
        guard = _XmlGuard(info.filename, info.file_size)
        strings = _SharedStringsScanner(info.filename, info.file_size) if shared_strings else None
        for chunk in self._inflate(info):
            guard.feed(chunk)
            if not bound.feed(chunk):
                return False
            if strings:
                strings.feed(chunk)
        guard.close()
        if not bound.close():
            return False
        if not self.exact:
            bound.apply(scanner)
        return True

    def _verify(self) -> bool:
        """The members the first pass left to this one, after calamine may have started:
        expat over those `_fast_scan` read without it, expat and the exact figures
        (`_FastSheetScan`) over those `_SheetBound` bounded.  True when every one is
        well-formed and read exactly (the answer then stands, as when the first pass reads
        them so); False: the usual inspection answers."""
        for info, scanner in self.deferred:
            if scanner is not None and not self.exact:
                if not self._well_formed(info, bounded=True):
                    return False
                continue
            if scanner is not None:
                fast = _FastSheetScan(scanner.name, self.limits)
                for chunk in self._inflate(info):
                    if not fast.feed(chunk):
                        return False
                if not fast.close():
                    return False
                fast.apply(scanner)
                continue
            if not self._well_formed(info):
                return False
        return True

    def _well_formed(self, info: zipfile.ZipInfo, bounded: bool = False) -> bool:
        """expat over a member: True when well-formed.  ``bounded`` (a sheet
        ``exact=False`` keeps bounded): also False for a sheet holding a formula (its cells
        are named: read exactly) or a ``<row>`` whose attributes expat decodes (entities,
        non-ASCII: `_FAST_ODD`'s last pattern), the only sheets the exact reading could
        refuse once the bound holds; the usual inspection then answers."""
        parser = expat.ParserCreate(namespace_separator="}")
        tail = b""
        try:
            for chunk in self._inflate(info):
                parser.Parse(chunk, False)
                if bounded:
                    data = tail + chunk if tail else chunk
                    cut = data.rfind(b"<")  # every tag before the last "<" is whole
                    block, tail = (data[:cut], data[cut:]) if cut >= 0 else (b"", data)
                    if len(tail) > _FAST_TAIL_MAX or not self._plain(block):
                        return False
            parser.Parse(b"", True)
        except expat.ExpatError:
            return False
        return not bounded or self._plain(tail)

    @staticmethod
    def _plain(block: bytes) -> bool:
        return _BOUND_FORMULA.search(block) is None and _FAST_ODD[2].search(block) is None

    @staticmethod
    def _finish(sheet: SheetInfo, scanners: dict) -> SheetInfo:
        scanner = scanners.get((sheet.part or "").lower())
        if scanner is None:
            return sheet
        rows, cols = scanner.declared
        return SheetInfo(name=sheet.name, kind=sheet.kind, state=sheet.state, part=sheet.part,
                         dimension=scanner.dimension, declared_rows=rows, declared_cols=cols,
                         max_row=scanner.max_row, max_col=scanner.max_col,
                         formula_cells=tuple(scanner.formulas),
                         formula_count=scanner.formula_count,
                         min_row=scanner.min_row, min_col=scanner.min_col,
                         exact=scanner.exact)
