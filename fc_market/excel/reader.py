"""Reading uploaded ``.xlsx`` workbooks with python-calamine, always after `check_xlsx`.

Typical use::

    book = open_checked(upload_bytes)          # UnsafeWorkbook if hostile
    rows = book.iter_rows("Offres", required=["SIRET", "Montant HT"])
    for number, values in rows:                # number: Excel row number
        amount = Decimal(str(values["Montant HT"]))

Every public entry point runs the safety check first, so calamine never sees
an unchecked file. Any failure, including calamine errors on a corrupt file,
is a `WorkbookError` with a French ``message``.

Values are typed: ``str`` (stripped; empty cells and blank strings are
``None``), ``int`` (floats without a fractional part, as Excel stores every
number as a float), ``float``, ``bool``, ``datetime.date`` / ``datetime.datetime``
(according to the cell format), ``datetime.time`` / ``datetime.timedelta``.
Money must be converted by the caller with ``Decimal(str(value))``.

Calamine returns formula *results*; formulas are detected from the sheet XML
during the safety scan (`formula_cells`) and refused in data rows unless
``allow_formulas=True``.
"""
from __future__ import annotations

import io
import os
import threading
from itertools import compress, islice
from typing import Any, Iterable, Iterator, Optional

from python_calamine import CalamineWorkbook

from .safety import (DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_ROWS, Source, WorkbookError,
                     WorkbookInfo, check_xlsx, column_letters, parse_cell_ref)

__all__ = ["CheckedWorkbook", "SheetRows", "open_checked", "iter_sheet_rows", "iter_raw_rows",
           "formula_cells", "map_distinct"]

_CORRUPT = ("Le fichier Excel n'a pas pu être lu : il est endommagé ou son contenu est invalide. "
            "Ouvrez-le dans Excel, enregistrez-le à nouveau puis réessayez.")
_MAX_INT_FLOAT = 2 ** 53
_KEY = object()


def _unreadable(exc: BaseException) -> WorkbookError:
    return WorkbookError(_CORRUPT, "corrupt", details={"error": f"{type(exc).__name__}: {exc}"})


def _call(function, *args):
    """Call into calamine, turning any failure (Rust panics included) into `WorkbookError`."""
    try:
        return function(*args)
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except BaseException as exc:  # CalamineError, OSError, pyo3 PanicException...
        raise _unreadable(exc) from exc


def _clean(value: Any) -> Any:
    kind = value.__class__
    if kind is str:
        return value.strip() or None
    if kind is float and value.is_integer() and -_MAX_INT_FLOAT <= value <= _MAX_INT_FLOAT:
        return int(value)
    return value


#: Types whose values may be equal across types (1 == 1.0 == True)
_NUMERIC_TYPES = frozenset((int, float, bool))


def map_distinct(values: Any, function: Any) -> list:
    """``[function(value) for value in values]``, calling *function* once per distinct value
    when no two distinct values can be equal: a column mixing ``1``, ``1.0`` or ``True`` (or
    holding an unhashable value) is mapped value by value.  A file's columns repeat a few
    codes, dates and labels on every row."""
    if len(set(map(type, values)) & _NUMERIC_TYPES) > 1:
        return [function(value) for value in values]
    try:
        found = {value: function(value) for value in set(values)}
    except TypeError:  # an unhashable value: not a cell's
        return [function(value) for value in values]
    return list(map(found.__getitem__, values))


def _clean_column(values: Any) -> list:
    """``[_clean(value) for value in values]``: a column of texts (calamine's empty cell is
    ``""``) stripped in one pass, any other through `map_distinct`."""
    if set(map(type, values)) == {str}:
        return [value.strip() or None for value in values]
    return map_distinct(values, _clean)


def _header_name(value: Any) -> Optional[str]:
    value = _clean(value)
    if value is None:
        return None
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    return " ".join(str(value).split()) or None


def _number(value: int) -> str:
    return f"{value:,}".replace(",", " ")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count > 1 else ''}"


class SheetRows:
    """Iterator of ``(row_number, {header: value})`` over the data rows of a sheet.

    ``headers`` lists the column headers in sheet order (empty header cells are
    skipped) and ``columns`` maps each header to its column letter (``"C"``).
    Rows without any value are skipped; row numbers are the ones Excel shows.
    """

    def __init__(self, sheet: str, headers: list, rows: Iterator, columns: dict,
                 selection: Optional[list] = None, chunked: Optional[Any] = None):
        self.sheet = sheet
        self.headers = headers
        self.columns = columns
        self._rows = rows
        self._selection = selection
        self._chunked = chunked
        self._started = False

    def select(self, keys: dict) -> "SheetRows":
        """Before iterating: records hold only the headers of *keys* (``{header: key}``),
        under their key, in the order of *keys*; a row is still skipped only when every column is
        empty (the other columns included).  The same values as renaming each record."""
        if self._started or self._selection is None:
            raise RuntimeError("select() comes before the first row")
        self._selection.append(dict(keys))
        return self

    def __iter__(self) -> "SheetRows":
        return self

    def __next__(self) -> tuple:
        self._started = True
        return next(self._rows)

    def chunks(self, size: int) -> Iterator[tuple]:
        """Instead of iterating: ``(row numbers, {key: [values]})`` for up to *size* rows
        at a time, a column per key (see `select`): the same rows, numbers and values as
        iterating, by column (a file's repeated values are cleaned once per chunk)."""
        if self._started or self._chunked is None:
            raise RuntimeError("chunks() replaces iterating, from the first row")
        self._started = True
        return self._chunked(size)


class CheckedWorkbook:
    """A workbook that passed `check_xlsx`; build it with `open_checked`."""

    def __init__(self, source: Any, info: WorkbookInfo, *, _key: object = None):
        if _key is not _KEY:
            raise TypeError("use open_checked() to get a CheckedWorkbook")
        self._source = source  # bytes or path
        self.info = info
        self._book: Optional[CalamineWorkbook] = None
        #: `open_checked(prefetch=...)`: the sheet calamine decodes in a thread meanwhile
        self._prefetch: Optional[_Prefetch] = None

    @property
    def sheet_names(self) -> list:
        return self.info.sheet_names

    def __enter__(self) -> "CheckedWorkbook":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release calamine's resources (rows already read stay valid)."""
        prefetch, self._prefetch = self._prefetch, None
        if prefetch is not None:  # never used: its workbook too
            prefetch.discard()
        if self._book is not None:
            book, self._book = self._book, None
            try:
                book.close()
            except Exception:  # already closed: nothing to release
                pass

    def formula_cells(self, sheet_name: str, limit: int = 50) -> list:
        """References (``["C5", "D7"]``) of the first cells of *sheet_name* holding a formula.

        At most ``min(limit, FORMULA_CELLS_KEPT)`` references, in sheet order.
        """
        return list(self.info.sheet(sheet_name).formula_cells[:max(0, limit)])

    def iter_rows(self, sheet_name: str, *, header_row: int = 1,
                  max_rows: int = DEFAULT_MAX_ROWS, required: Iterable[str] = (),
                  allow_formulas: bool = False) -> SheetRows:
        """Rows of *sheet_name* below *header_row*, as a `SheetRows` iterator.

        Raises `WorkbookError` right away when the sheet is missing, has more
        than *max_rows* data rows (real cells, not the declared dimension), has
        formulas in data rows (unless *allow_formulas*), or lacks a *required*
        column (compared after collapsing white space); later, while iterating,
        if calamine fails on a row.
        """
        if header_row < 1:
            raise ValueError("header_row starts at 1")
        rows, offset = self._load(sheet_name, header_row, max_rows, allow_formulas)
        headers = self._read_headers(sheet_name, rows, header_row)
        names = [name for _, name in headers]
        wanted = [" ".join(name.split()) for name in required]
        missing = [name for name in wanted if name not in names]
        if missing:
            listed = ", ".join(f"« {name} »" for name in missing)
            raise WorkbookError(f"La feuille « {sheet_name} » ne contient pas "
                                f"{'la colonne' if len(missing) == 1 else 'les colonnes'} "
                                f"attendue{'s' if len(missing) > 1 else ''} : {listed} "
                                f"(ligne d'en-tête {header_row}).", "missing_columns",
                                details={"missing": missing})
        letters = {name: column_letters(offset + index + 1) for index, name in headers}
        selection: list = []
        generator = self._generate(sheet_name, rows, headers, header_row, max_rows, selection)

        def chunked(size: int) -> Iterator[tuple]:
            keys = selection[-1] if selection else {name: name for _, name in headers}
            return self._generate_chunks(sheet_name, rows, headers, header_row, max_rows, keys,
                                         size)
        return SheetRows(sheet_name, names, generator, letters, selection, chunked)

    def raw_rows(self, sheet_name: str, *, max_rows: int = DEFAULT_MAX_ROWS,
                 allow_formulas: bool = False) -> Iterator[tuple]:
        """``(row_number, [value of column A, B, ...])`` for every non-empty row, header
        included, for callers mapping columns themselves. Same checks as `iter_rows`
        (formulas are refused in every row)."""
        rows, offset = self._load(sheet_name, 0, max_rows, allow_formulas)
        return self._generate_raw(sheet_name, rows, offset, max_rows)

    # -- internals -------------------------------------------------------------
    def _load(self, sheet_name: str, header_row: int, max_rows: int,
              allow_formulas: bool) -> tuple:
        """Checks shared by the readers; ``(calamine row iterator, first column offset)``.

        calamine pads the rows above the first used one but starts every row at
        the first used column: indexes in a row are relative to that offset.
        """
        sheet = self.info.sheet(sheet_name)
        if sheet.kind != "worksheet":
            raise WorkbookError(f"La feuille « {sheet_name} » n'est pas une feuille de données.",
                                "not_a_worksheet")
        if sheet.exact and sheet.max_row - header_row > max_rows:
            raise self._too_many_rows(sheet_name, sheet.max_row - header_row, max_rows)
        if not allow_formulas:
            self._refuse_formulas(sheet, header_row)
        data = self._settle(sheet_name)
        if self._book is None:
            self._book = self._open()
        if data is None:
            data = _call(self._book.get_sheet_by_name, sheet_name)
        if not sheet.exact:  # the check bounded the extent: the real one is calamine's grid
            end = _call(getattr, data, "end")
            last = end[0] + 1 if end else 0
            if last - header_row > max_rows:
                raise self._too_many_rows(sheet_name, last - header_row, max_rows)
        start = _call(getattr, data, "start")
        return _call(data.iter_rows), (start[1] if start else 0)

    def _settle(self, sheet_name: Optional[str] = None) -> Any:
        """Wait for the prefetch thread, if any, and keep its workbook; the sheet it decoded
        when it is *sheet_name* (once: a second read decodes it again), else None.  A
        failure of the thread is raised as calamine's would be (`_unreadable`) when the
        call that failed is the one asked for (another sheet is read as usual)."""
        prefetch = self._prefetch
        if prefetch is None:
            return None
        prefetch.thread.join()
        if prefetch.book is not None and self._book is None:
            self._book, prefetch.book = prefetch.book, None
        error = prefetch.error
        if error is not None and isinstance(error, (KeyboardInterrupt, SystemExit, MemoryError)):
            self._prefetch = None
            raise error
        if self._book is None:  # the workbook did not open: as `_open` would say
            self._prefetch = None
            raise _unreadable(error) from error
        if sheet_name is None or sheet_name != prefetch.sheet:
            return None
        self._prefetch = None
        if error is not None:
            raise _unreadable(error) from error
        return prefetch.data

    def _open(self) -> CalamineWorkbook:
        if isinstance(self._source, bytes):
            return _call(CalamineWorkbook.from_filelike, io.BytesIO(self._source))
        return _call(CalamineWorkbook.from_path, self._source)

    @staticmethod
    def _too_many_rows(sheet_name: str, count: int, limit: int) -> WorkbookError:
        return WorkbookError(f"La feuille « {sheet_name} » contient trop de lignes "
                             f"({_number(count)} ; maximum {_number(limit)}).", "too_many_rows")

    @staticmethod
    def _refuse_formulas(sheet: Any, header_row: int) -> None:
        cells = [ref for ref in sheet.formula_cells
                 if (parse_cell_ref(ref) or (header_row + 1, 0))[0] > header_row]
        if not cells and sheet.formula_count <= len(sheet.formula_cells):
            return
        shown = ", ".join(cells[:10]) + ("…" if len(cells) > 10 else "")
        where = f" ({_plural(len(cells), 'cellule')} : {shown})" if cells else ""
        raise WorkbookError(f"La feuille « {sheet.name} » contient des formules{where} : "
                            "seules des valeurs sont acceptées. Remplacez les formules par leurs "
                            "valeurs (Copier, puis Collage spécial > Valeurs) et réessayez.",
                            "formulas", details={"cells": cells})

    @staticmethod
    def _read_headers(sheet_name: str, rows: Iterator, header_row: int) -> list:
        """Consume *rows* up to the header row; ``[(index_in_row, header), ...]``."""
        values = None
        for _ in range(header_row):
            values = _call(next, rows, None)
            if values is None:
                break
        headers, seen = [], set()
        for index, value in enumerate(values or ()):
            name = _header_name(value)
            if name is None:
                continue
            if name in seen:
                raise WorkbookError(f"La colonne « {name} » apparaît plusieurs fois dans la "
                                    f"ligne d'en-tête de la feuille « {sheet_name} ».",
                                    "duplicate_columns", details={"column": name})
            seen.add(name)
            headers.append((index, name))
        if not headers:
            raise WorkbookError(f"La feuille « {sheet_name} » ne contient pas de ligne d'en-tête "
                                f"(ligne {header_row} vide).", "header_missing")
        return headers

    def _generate(self, sheet_name: str, rows: Iterator, headers: list, header_row: int,
                  max_rows: int, selection: Optional[list] = None) -> Iterator[tuple]:
        # a generator: ``selection`` is read at the first row, after `SheetRows.select`
        keys = selection[-1] if selection else {name: name for _, name in headers}
        yield from self._generate_selected(sheet_name, rows, headers, header_row, max_rows, keys)

    def _generate_selected(self, sheet_name: str, rows: Iterator, headers: list,
                           header_row: int, max_rows: int, keys: dict) -> Iterator[tuple]:
        """The rows after the header as ``(row number, record)``: the record maps ``keys``'
        values (every column's name by default, or the keys given to `SheetRows.select`) to
        the cleaned cells; a row blank in every column is skipped."""
        number, count = header_row, 0
        next_row = rows.__next__
        largest = _MAX_INT_FLOAT
        position = {name: index for index, name in headers}
        wanted = [(position[name], key) for name, key in keys.items() if name in position]
        others = [index for index, name in headers if name not in keys]
        while True:
            try:
                values = next_row()
            except StopIteration:
                return
            except (KeyboardInterrupt, SystemExit, MemoryError):
                raise
            except BaseException as exc:  # as in _call: calamine errors, Rust panics...
                raise _unreadable(exc) from exc
            number += 1
            width = len(values)
            record = {}
            empty = True
            for index, key in wanted:  # _clean, inlined
                value = values[index] if index < width else None
                kind = value.__class__
                if kind is str:
                    value = value.strip() or None
                elif kind is float and value.is_integer() and -largest <= value <= largest:
                    value = int(value)
                if value is not None:
                    empty = False
                record[key] = value
            if empty:
                for index in others:
                    if index < width and _clean(values[index]) is not None:
                        empty = False
                        break
                if empty:
                    continue
            count += 1
            if count > max_rows:
                raise self._too_many_rows(sheet_name, count, max_rows)
            yield number, record

    def _generate_chunks(self, sheet_name: str, rows: Iterator, headers: list,
                         header_row: int, max_rows: int, keys: dict,
                         size: int) -> Iterator[tuple]:
        """`_generate_selected` by chunks of *size* calamine rows, by column: ``(numbers,
        {key: [cleaned values]})`` of the chunk's non-blank rows (`_clean_column`)."""
        number, count = header_row, 0
        position = {name: index for index, name in headers}
        wanted = [(position[name], key) for name, key in keys.items() if name in position]
        others = [index for index, name in headers if name not in keys]
        while True:
            try:
                chunk = list(islice(rows, size))
            except (KeyboardInterrupt, SystemExit, MemoryError):
                raise
            except BaseException as exc:  # as in _call: calamine errors, Rust panics...
                raise _unreadable(exc) from exc
            if not chunk:
                return
            first, number = number + 1, number + len(chunk)
            width = min(map(len, chunk))
            if width == max(map(len, chunk)):  # calamine's rows: all as wide as the range
                by_index = list(zip(*chunk)) if width else []
                columns = {key: _clean_column(by_index[index]) if index < width
                           else [None] * len(chunk) for index, key in wanted}
            else:
                columns = {key: [_clean(row[index]) if index < len(row) else None
                                 for row in chunk] for index, key in wanted}
            numbers = list(range(first, number + 1))
            # a row blank in every column is skipped: only a row whose first column is
            # blank may be one
            lead = next(iter(columns.values()), None)
            candidates = (range(len(chunk)) if lead is None
                          else [i for i, value in enumerate(lead) if value is None])
            skipped = [i for i in candidates
                       if all(values[i] is None for values in columns.values())
                       and all(_clean(chunk[i][index]) is None for index in others
                               if index < len(chunk[i]))]
            if skipped:
                kept = [True] * len(chunk)
                for i in skipped:
                    kept[i] = False
                numbers = list(compress(numbers, kept))
                columns = {key: list(compress(values, kept)) for key, values in columns.items()}
            count += len(numbers)
            if count > max_rows:  # the rows up to the limit, then the refusal
                allowed = len(numbers) - (count - max_rows)
                if allowed > 0:
                    yield numbers[:allowed], {key: values[:allowed]
                                              for key, values in columns.items()}
                raise self._too_many_rows(sheet_name, max_rows + 1, max_rows)
            if numbers:
                yield numbers, columns

    def _generate_raw(self, sheet_name: str, rows: Iterator, offset: int,
                      max_rows: int) -> Iterator[tuple]:
        number, count, padding = 0, 0, [None] * offset
        while True:
            values = _call(next, rows, None)
            if values is None:
                return
            number += 1
            cleaned = [_clean(value) for value in values]
            if not any(value is not None for value in cleaned):
                continue
            count += 1
            if count > max_rows:
                raise self._too_many_rows(sheet_name, count, max_rows)
            yield number, padding + cleaned


def _materialize(source: Source, max_file_size: int) -> Any:
    """Bytes or path: what both the check and calamine will read (no second read of a stream)."""
    if isinstance(source, bytes):
        return source
    if isinstance(source, (bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if hasattr(source, "read") and hasattr(source, "seek"):
        source.seek(0)
        return source.read(max_file_size + 1)
    raise TypeError(f"unsupported workbook source: {type(source).__name__}")


class _Prefetch:
    """calamine opening the checked file and decoding one sheet in a thread: both calls
    release the GIL, so the rest of the safety check (expat) runs meanwhile."""

    def __init__(self, source: Any, sheet: str):
        self.source = source
        self.sheet = sheet
        self.book: Optional[CalamineWorkbook] = None
        self.data: Any = None
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, name="calamine-prefetch", daemon=True)

    def _run(self) -> None:
        try:
            if isinstance(self.source, bytes):
                self.book = CalamineWorkbook.from_filelike(io.BytesIO(self.source))
            else:
                self.book = CalamineWorkbook.from_path(self.source)
            self.data = self.book.get_sheet_by_name(self.sheet)
        except BaseException as exc:  # raised in the caller's thread (CheckedWorkbook._settle)
            self.error = exc

    def discard(self) -> None:
        self.thread.join()
        book, self.book, self.data = self.book, None, None
        if book is not None:
            try:
                book.close()
            except Exception:
                pass


def open_checked(source: Source, prefetch: Optional[str] = None, **limits: Any) -> CheckedWorkbook:
    """Run `check_xlsx(source, **limits)` and return a reader over the checked file.

    ``prefetch``: a worksheet calamine starts decoding in a thread as soon as the check
    has proven the file cannot exhaust its memory (`check_xlsx`'s ``on_bounded``), while
    the rest of the check runs; a refused file's prefetch is discarded.  Same answers and
    refusals as without it (the sheet is missing or not a worksheet: nothing is started)."""
    data = _materialize(source, limits.get("max_file_size", DEFAULT_MAX_FILE_SIZE))
    if prefetch is None:
        return CheckedWorkbook(data, check_xlsx(data, **limits), _key=_KEY)
    started = []

    def on_bounded(kinds: dict) -> None:
        if kinds.get(prefetch) == "worksheet" and not started:
            job = _Prefetch(data, prefetch)
            started.append(job)
            job.thread.start()

    try:
        # the extent the reader needs is the grid calamine decodes (`CheckedWorkbook._load`)
        info = check_xlsx(data, on_bounded=on_bounded, exact=False, **limits)
    except BaseException:
        for job in started:
            job.discard()
        raise
    book = CheckedWorkbook(data, info, _key=_KEY)
    book._prefetch = started[0] if started else None
    return book


def iter_sheet_rows(source: Source, sheet_name: str, *, header_row: int = 1,
                    max_rows: int = DEFAULT_MAX_ROWS, required: Iterable[str] = (),
                    allow_formulas: bool = False, **limits: Any) -> SheetRows:
    """Check *source* then iterate ``(row_number, {header: value})`` over *sheet_name*.

    See `CheckedWorkbook.iter_rows`; *limits* go to `check_xlsx`.
    """
    book = open_checked(source, **limits)
    return book.iter_rows(sheet_name, header_row=header_row, max_rows=max_rows,
                          required=required, allow_formulas=allow_formulas)


def iter_raw_rows(source: Source, sheet_name: str, *, max_rows: int = DEFAULT_MAX_ROWS,
                  allow_formulas: bool = False, **limits: Any) -> Iterator[tuple]:
    """Check *source* then iterate ``(row_number, [values from column A])`` over *sheet_name*.

    See `CheckedWorkbook.raw_rows`; *limits* go to `check_xlsx`.
    """
    return open_checked(source, **limits).raw_rows(sheet_name, max_rows=max_rows,
                                                    allow_formulas=allow_formulas)


def formula_cells(source: Source, sheet_name: str, limit: int = 50, **limits: Any) -> list:
    """Check *source* then list the cells of *sheet_name* holding a formula (``["C5", "D7"]``).

    The references come from the streaming expat scan of the sheet XML done by
    `check_xlsx`; at most ``min(limit, FORMULA_CELLS_KEPT)`` are returned.
    """
    return open_checked(source, **limits).formula_cells(sheet_name, limit)

