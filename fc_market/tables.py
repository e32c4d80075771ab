"""One definition per table: its columns (French label, format, sort key), its filters and its
default order, rendering both the DSFR table on screen (paginated on the server, sortable,
filters kept in the URL) and the Excel export of the whole filtered list.

    INVOICES = Table("factures", "Factures", [
        Col("number", "Numéro", sort=Invoice.number),
        Col("amount", "Montant TTC", "amount_incl_tax", kind="money", sort=Invoice.amount_incl_tax),
        Col("status", "État", labels=InvoiceStatus.LABELS, tones=InvoiceStatus.TONES),
    ], filters=[lot_filter(Invoice.lot_id), search_filter("Numéro", Invoice.number)],
       default_sort="-amount", noun=("facture", "factures"))

    page = INVOICES.page(base_select, "billing.invoices")      # a Page for dsfr.table(page)
    INVOICES.export(base_select, "factures.xlsx")               # the whole filtered list

The view builds the base query (it is where access is checked: a mandataire's own lot); the
table applies the filters of the request, the order and the page.  A source may also be a
plain list of rows already computed in Python (then filters and sorting run in Python).
Codes are shown through ``labels`` (display only: never compare a label in logic).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import sqlalchemy as sa
from flask import request, url_for
from markupsafe import Markup, escape

from fc_market import formatting
from fc_market.excel.writer import Column as ExcelColumn
from fc_market.excel.writer import Sheet
from fc_market.extensions import db

#: Rows per page of every paginated list
PAGE_SIZE = 50
#: Cap of an export (the writer streams; this bounds the memory of one request)
EXPORT_LIMIT = 200_000
#: URL parameters of the table machinery (French, as the user sees them in the address bar)
SORT_PARAM, PAGE_PARAM = "tri", "page"

#: Screen kinds → Excel kinds of fc_market.excel.writer
EXCEL_KINDS = {"text": "text", "int": "int", "number": "number", "money": "decimal",
               "percent": "percent", "date": "date", "datetime": "datetime", "month": "text",
               "bool": "bool", "unit_price": "decimal"}
NUMERIC_KINDS = {"int", "number", "money", "percent", "unit_price"}


def _getter(path):
    if callable(path):
        return path
    parts = path.split(".")

    def get(row):
        value = row
        for part in parts:
            if value is None:
                return None
            value = value.get(part) if isinstance(value, Mapping) else getattr(value, part, None)
        return value
    return get


@dataclass(frozen=True)
class Col:
    """One column, on screen and in the export.

    *key* names the column in the URL (``?tri=-key``); *value* is an attribute path or a
    callable ``row -> value`` (default: *key*); *kind* its format; *sort* the SQL expression
    (or, for a list source, ``True`` to sort on the value or a callable ``row -> key``);
    *labels* maps stored codes to French labels; *html* draws the cell on screen
    (``row -> Markup``); *screen* / *export* say where the column appears.
    """

    key: str
    label: str
    value: Any = None
    kind: str = "text"
    sort: Any = None
    labels: Optional[Mapping] = None
    html: Optional[Callable] = None
    screen: bool = True
    export: bool = True
    export_label: Optional[str] = None
    digits: Optional[int] = None
    get: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in EXCEL_KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")
        object.__setattr__(self, "get", _getter(self.value if self.value is not None else self.key))

    @property
    def sortable(self):
        return self.sort is not None and self.sort is not False

    @property
    def numeric(self):
        return self.kind in NUMERIC_KINDS

    def display(self, row):
        """The French text of the cell."""
        value = self.get(row)
        if self.labels is not None and value is not None:
            return self.labels.get(value, value)
        return format_value(self.kind, value, self.digits)

    def excel_value(self, row):
        value = self.get(row)
        if value is None:
            return None
        if self.labels is not None:
            return self.labels.get(value, value)
        if self.kind == "month":
            return formatting.month(value)
        if self.kind == "datetime" and isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            return value.astimezone(formatting.PARIS).replace(tzinfo=None)
        return value

    def excel_column(self):
        kind = "text" if self.labels is not None else EXCEL_KINDS[self.kind]
        return ExcelColumn(self.excel_value, self.export_label or self.label, kind)


def format_value(kind, value, digits=None):
    if value is None or value == "":
        return "—"
    if kind == "money":
        return formatting.money(value)
    if kind == "unit_price":
        return formatting.unit_price(value, 2 if digits is None else digits)
    if kind == "int":
        return formatting.integer(value)
    if kind == "number":
        return formatting.number(value, 2 if digits is None else digits)
    if kind == "percent":
        return formatting.percent(value, 1 if digits is None else digits)
    if kind == "date":
        return formatting.day(value)
    if kind == "datetime":
        return formatting.moment(value)
    if kind == "month":
        return formatting.month(value)
    if kind == "bool":
        return "Oui" if value else "Non"
    return str(value)


@dataclass(frozen=True)
class Filter:
    """A filter of the list, kept in the URL under *key*.

    *kind*: ``select`` (options), ``search`` (free text), ``month`` (``AAAA-MM``), ``date``.
    *apply* ``(select, value) -> select`` filters a SQL source; *match* ``(row, value) -> bool``
    a list source; *options* ``() -> [(value, label)]`` for a select; *describe* the label of
    the active filter's tag.
    """

    key: str
    label: str
    kind: str = "select"
    apply: Optional[Callable] = None
    match: Optional[Callable] = None
    options: Any = ()
    empty: Optional[str] = "Tous"
    hint: Optional[str] = None
    #: Value when the URL does not name the filter (e.g. the open flags only)
    default: Optional[str] = None

    def choices(self):
        return list(self.options() if callable(self.options) else self.options)

    def clean(self, raw):
        """The valid value of the filter in the request, or None (an invalid value is ignored,
        never an error)."""
        raw = (raw or "").strip()
        if not raw:
            return None
        if self.kind == "select":
            allowed = {str(value) for value, _ in self.choices()}
            return raw if raw in allowed else None
        if self.kind == "month":
            try:
                dt.datetime.strptime(raw, "%Y-%m")
            except ValueError:
                return None
            return raw
        if self.kind == "date":
            try:
                dt.date.fromisoformat(raw)
            except ValueError:
                return None
            return raw
        return raw[:100]

    def describe(self, value):
        if self.kind == "select":
            return f"{self.label} : {dict((str(v), t) for v, t in self.choices()).get(value, value)}"
        if self.kind == "month":
            return f"{self.label} : {formatting.month(value)}"
        if self.kind == "date":
            return f"{self.label} : {formatting.day(dt.date.fromisoformat(value))}"
        return f"{self.label} : « {value} »"


# ---- Filters most lists share ------------------------------------------------------------

def lot_filter(lot_id_column=None, key="lot", get_lot_code=None):
    """Filter by lot code; *lot_id_column* the SQL column of the lot's id (SQL source) or
    *get_lot_code* ``row -> code`` (list source)."""
    from fc_market.market.models import Lot

    def options():
        return [(lot.code, f"{lot.code} — {lot.name}")
                for lot in db.session.scalars(sa.select(Lot).order_by(Lot.number))]

    def apply(stmt, value):
        return stmt.where(lot_id_column == sa.select(Lot.id).where(Lot.code == value)
                          .scalar_subquery())

    def match(row, value):
        return get_lot_code(row) == value

    return Filter(key, "Lot", "select", apply=apply if lot_id_column is not None else None,
                  match=match if get_lot_code else None, options=options)


def status_filter(column=None, labels=None, key="statut", label="État", get=None):
    """Filter on a status code; the options are the French labels."""
    return Filter(key, label, "select",
                  apply=(lambda stmt, value: stmt.where(column == value)) if column is not None else None,
                  match=(lambda row, value: str(_getter(get)(row)) == value) if get else None,
                  options=lambda: list(labels.items()))


def period_filter(column=None, key="periode", label="Période", get=None):
    """A month ``AAAA-MM`` against a ``period`` text column, or a date/datetime column (the
    month's days)."""
    def apply(stmt, value):
        if isinstance(column.type, (sa.Date, sa.DateTime)):
            year, month = map(int, value.split("-"))
            start = dt.date(year, month, 1)
            end = dt.date(year + month // 12, month % 12 + 1, 1)
            return stmt.where(column >= start, column < end)
        return stmt.where(column == value)

    def match(row, value):
        current = _getter(get)(row)
        if isinstance(current, (dt.date, dt.datetime)):
            return current.strftime("%Y-%m") == value
        return str(current) == value

    return Filter(key, label, "month", apply=apply if column is not None else None,
                  match=match if get else None, hint="Mois, au format AAAA-MM")


def search_filter(label, *columns, key="q", get=None, hint=None):
    """A free-text search: any of *columns* containing the text (case-insensitive)."""
    def apply(stmt, value):
        pattern = f"%{value.lower()}%"
        return stmt.where(sa.or_(*(sa.func.lower(sa.cast(c, sa.String)).like(pattern)
                                   for c in columns)))

    def match(row, value):
        needle = value.lower()
        return any(needle in str(part or "").lower() for part in get(row))

    return Filter(key, label, "search", apply=apply if columns else None,
                  match=match if get else None, hint=hint)


class Table:
    """A list's definition; see the module's docstring."""

    def __init__(self, name, title, columns: Sequence[Col], filters: Sequence[Filter] = (),
                 default_sort=None, noun=("ligne", "lignes"), empty="Aucune ligne.",
                 row_class=None, page_size=PAGE_SIZE, tiebreak=None, sheet_title=None,
                 prepare=None):
        self.name, self.title = name, title
        self.columns = list(columns)
        self.filters = list(filters)
        self.default_sort = default_sort
        self._noun = noun
        self.empty = empty
        self._row_class = row_class
        self.page_size = page_size
        self.tiebreak = tiebreak
        self.sheet_title = sheet_title or title
        #: ``rows -> rows`` run on the fetched rows only (a page, or the export): where
        #: figures computed per row in Python are added, so a page computes 50, not all
        self.prepare = prepare
        keys = [c.key for c in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"table {name}: duplicate column keys")

    # -- helpers for templates
    def noun(self, count):
        return self._noun[0] if count == 1 else self._noun[1]

    def row_class(self, row):
        return self._row_class(row) if self._row_class else ""

    def cell_html(self, column, row):
        if column.html is not None:
            return column.html(row)
        return escape(column.display(row))

    def column(self, key):
        return next((c for c in self.columns if c.key == key), None)

    # -- the request's state
    def filter_values(self, args, hidden=()):
        values = {}
        for flt in self.filters:
            if flt.key in hidden:
                continue
            raw = args.get(flt.key)
            value = flt.default if raw is None else flt.clean(raw)
            if value is not None:
                values[flt.key] = value
        return values

    def sort_of(self, args):
        raw = (args.get(SORT_PARAM) or "").strip() or (self.default_sort or "")
        descending = raw.startswith("-")
        column = self.column(raw.lstrip("-"))
        if column is None or not column.sortable:
            raw = self.default_sort or ""
            descending = raw.startswith("-")
            column = self.column(raw.lstrip("-"))
        return column, descending

    # -- querying
    def _filtered(self, source, values):
        by_key = {f.key: f for f in self.filters}
        if isinstance(source, sa.Select):
            for key, value in values.items():
                source = by_key[key].apply(source, value)
            return source
        rows = list(source)
        for key, value in values.items():
            rows = [row for row in rows if by_key[key].match(row, value)]
        return rows

    def _ordered(self, source, column, descending):
        if isinstance(source, sa.Select):
            if column is not None:
                expression = column.sort
                key = expression.desc() if descending else expression.asc()
                # NULLs last; a column that is never NULL is ordered plainly, so that an
                # index on it serves the order (the same rows: it has no NULL to place)
                source = source.order_by(None).order_by(
                    key if _never_null(expression, source) else key.nulls_last())
            if self.tiebreak is not None:
                source = source.order_by(self.tiebreak)
            return source
        if column is None:
            return source
        key = column.sort if callable(column.sort) else column.get
        present = [row for row in source if key(row) is not None]
        missing = [row for row in source if key(row) is None]
        present.sort(key=lambda row: key(row), reverse=descending)
        return present + missing

    def rows(self, source, args=None, hidden=()):
        """Every row of the filtered, ordered list (for exports)."""
        args = request.args if args is None else args
        column, descending = self.sort_of(args)
        ordered = self._ordered(self._filtered(source, self.filter_values(args, hidden)),
                                column, descending)
        if isinstance(ordered, sa.Select):
            rows = db.session.scalars(ordered.limit(EXPORT_LIMIT)).all()
        else:
            rows = ordered[:EXPORT_LIMIT]
        return self.prepare(rows) if self.prepare else rows

    def page(self, source, endpoint, url_values=None, args=None, hidden=(),
             export_endpoint=None, export_values=None, keep=()):
        """The :class:`Page` of the request.  *endpoint* and *url_values* build the links of
        the pages, sorts and filters; *hidden* names filters that do not apply (a
        mandataire's lot); *export_endpoint* the route exporting the same filtered list;
        *keep* names other arguments of the page to carry along (another view mode)."""
        args = request.args if args is None else args
        kept = [(name, args[name]) for name in keep if args.get(name)]
        url_values = {**(url_values or {}), **dict(kept)}
        values = self.filter_values(args, hidden)
        column, descending = self.sort_of(args)
        filtered = self._filtered(source, values)
        if isinstance(filtered, sa.Select):
            total = db.session.scalar(sa.select(sa.func.count()).select_from(
                filtered.order_by(None).subquery()))
        else:
            total = len(filtered)
        pages = max(1, math.ceil(total / self.page_size))
        number = min(_page_number(args), pages)
        ordered = self._ordered(filtered, column, descending)
        offset = (number - 1) * self.page_size
        if isinstance(ordered, sa.Select):
            rows = self._fetch(ordered, offset, total)
        else:
            rows = ordered[offset:offset + self.page_size]
        if self.prepare:
            rows = self.prepare(rows)
        page = Page(self, rows, total, number, pages, column, descending, values,
                    endpoint, url_values, args, hidden, export_endpoint, export_values)
        page.fixed_params = kept
        return page

    def _fetch(self, ordered, offset, total):
        """The rows of one page of a SQL list.  Past the middle of a long list the page is
        read from the other end (the order reversed, the rows turned back): the same rows
        as ``LIMIT n OFFSET offset`` without the database stepping over the rows before it.
        Only with a tiebreak (a unique key closing the order), so the order is total."""
        limit = self.page_size
        after = max(total - offset - limit, 0)
        if self.tiebreak is not None and after < offset:
            backwards = _reverse_order(ordered)
            if backwards is not None:
                rows = db.session.scalars(backwards.limit(max(min(limit, total - offset), 0))
                                          .offset(after)).all()
                return rows[::-1]
        return db.session.scalars(ordered.limit(limit).offset(offset)).all()

    def sheet(self, source, args=None, hidden=(), title=None):
        columns = [c.excel_column() for c in self.columns if c.export]
        return Sheet(title or self.sheet_title, columns, self.rows(source, args, hidden))

    def export(self, source, filename, args=None, hidden=(), extra_sheets=()):
        from fc_market.exports import xlsx_response
        return xlsx_response(filename, [self.sheet(source, args, hidden), *extra_sheets])


def _never_null(expression, stmt):
    """True when *expression* is a NOT NULL column of the table *stmt* selects (no join can
    turn it NULL)."""
    columns = getattr(getattr(expression, "property", None), "columns", None)
    if not columns or len(columns) != 1:
        return False
    column = columns[0]
    if not isinstance(column, sa.Column) or column.nullable:
        return False
    entity = (stmt.column_descriptions[0].get("entity") if stmt.column_descriptions else None)
    if entity is None:
        return False
    return column.table in sa.inspect(entity).tables


def _reverse_order(stmt):
    """*stmt* ordered the other way round (each key's direction and NULL placement
    reversed), or None when it has no order or a key this cannot read."""
    from sqlalchemy.sql import operators
    from sqlalchemy.sql.elements import UnaryExpression

    clauses = list(stmt._order_by_clauses)
    if not clauses:
        return None
    reversed_ = []
    for clause in clauses:
        nulls = None
        if isinstance(clause, UnaryExpression) and clause.modifier in (operators.nulls_first_op,
                                                                       operators.nulls_last_op):
            nulls = "first" if clause.modifier is operators.nulls_first_op else "last"
            clause = clause.element
        descending = False
        if isinstance(clause, UnaryExpression) and clause.modifier in (operators.asc_op,
                                                                       operators.desc_op):
            descending = clause.modifier is operators.desc_op
            clause = clause.element
        if (isinstance(clause, UnaryExpression) and clause.modifier is not None) \
                or not hasattr(clause, "desc"):
            return None
        key = clause.asc() if descending else clause.desc()
        if nulls is None:
            # the database's own placement (NULLs as the largest value in PostgreSQL, the
            # smallest in SQLite) is reversed with the direction
            reversed_.append(key)
        else:
            reversed_.append(key.nulls_last() if nulls == "first" else key.nulls_first())
    return stmt.order_by(None).order_by(*reversed_)


def _page_number(args):
    """The page asked for: 1 when absent or not a number, 404 past the database's integer
    range (see fc_market.urlargs); a page past the end shows the last one."""
    from flask import abort

    from fc_market.urlargs import DB_INT_MAX
    raw = (args.get(PAGE_PARAM) or "").strip()
    if not raw.isdigit() or not raw.isascii():
        return 1
    if len(raw) > len(str(DB_INT_MAX)) or int(raw) > DB_INT_MAX:
        abort(404)
    return max(int(raw), 1)


class Page:
    """One page of a table, with what its template needs to draw links."""

    def __init__(self, table, rows, total, number, pages, sort_column, descending, values,
                 endpoint, url_values, args, hidden, export_endpoint, export_values):
        self.table, self.rows, self.total = table, rows, total
        self.number, self.pages = number, pages
        self.sort_key = sort_column.key if sort_column else None
        self.descending = descending
        self.filter_values = values
        self._endpoint, self._url_values = endpoint, url_values
        self._explicit_sort = (args.get(SORT_PARAM) or "").strip()
        self._hidden = hidden
        self._export = export_endpoint
        self._export_values = export_values if export_values is not None else url_values
        self.columns = [c for c in table.columns if c.screen]
        #: Parameters the filter form must carry as they are (none beyond the sort today)
        self.fixed_params = []
        visible = [f for f in table.filters if f.key not in hidden]
        self.visible_filters = visible

    @property
    def sort_param(self):
        return self._explicit_sort or None

    def url(self, **changes):
        """This list's URL with its filters and sort, *changes* applied (None removes)."""
        params = dict(self.filter_values)
        if self._explicit_sort:
            params[SORT_PARAM] = self._explicit_sort
        params.update(changes)
        params = {k: v for k, v in params.items() if v is not None}
        return url_for(self._endpoint, **self._url_values, **params)

    def page_url(self, number):
        return self.url(**{PAGE_PARAM: number if number > 1 else None})

    def sort_url(self, key):
        if self.sort_key == key and not self.descending:
            value = f"-{key}"
        else:
            value = key
        return self.url(**{SORT_PARAM: value, PAGE_PARAM: None})

    @property
    def export_url(self):
        if not self._export:
            return None
        params = dict(self.filter_values)
        if self._explicit_sort:
            params[SORT_PARAM] = self._explicit_sort
        return url_for(self._export, **self._export_values, **params)

    @property
    def active_filters(self):
        out = []
        by_key = {f.key: f for f in self.table.filters}
        for key, value in self.filter_values.items():
            if value == by_key[key].default:
                continue
            out.append((by_key[key].describe(value), self.url(**{key: None, PAGE_PARAM: None})))
        return out

    @property
    def clear_url(self):
        params = {SORT_PARAM: self._explicit_sort} if self._explicit_sort else {}
        return url_for(self._endpoint, **self._url_values, **params)

    def filter_options(self, flt):
        return flt.choices()

    @property
    def summary(self):
        if not self.total:
            return self.table.empty
        first = (self.number - 1) * self.table.page_size + 1
        last = min(self.number * self.table.page_size, self.total)
        noun = self.table.noun(self.total)
        return (f"{formatting.integer(first)} à {formatting.integer(last)} sur "
                f"{formatting.integer(self.total)} {noun}")

    def window(self, around=2):
        """Page numbers to show, ``None`` marking a gap."""
        shown = sorted({1, self.pages, *range(max(1, self.number - around),
                                                 min(self.pages, self.number + around) + 1)})
        out, previous = [], 0
        for number in shown:
            if number - previous > 1:
                out.append(None)
            out.append(number)
            previous = number
        return out


def link(text_of, url_of):
    """A column's ``html``: the cell's text as a link."""
    def draw(row):
        text = text_of(row)
        return Markup('<a href="{}">{}</a>').format(url_of(row), text if text is not None else "—")
    return draw


def badge(labels, tones, get):
    """A column's ``html``: a DSFR status badge (``tones`` maps codes to ok/warn/bad/info)."""
    modifiers = {"ok": "success", "bad": "error", "warn": "warning", "info": "info", "new": "new"}

    def draw(row):
        code = _getter(get)(row)
        if code is None:
            return Markup("—")
        modifier = modifiers.get((tones or {}).get(code, ""), "")
        cls = "fr-badge fr-badge--sm fr-badge--no-icon" + (f" fr-badge--{modifier}" if modifier else "")
        return Markup('<p class="{}">{}</p>').format(cls, labels.get(code, code))
    return draw
