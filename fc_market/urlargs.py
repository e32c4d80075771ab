"""Integers read from URLs, bounded to what the database can hold.

An id or a page number past the database's integer range used to reach the query and answer
500 (an overflow in the driver); here it is simply a page that does not exist (404).
"""
from flask import abort, request
from werkzeug.routing import IntegerConverter

#: Largest value of an SQL ``INTEGER`` column (PostgreSQL's 4-byte integer; SQLite's is wider)
DB_INT_MAX = 2**31 - 1


class DatabaseIntConverter(IntegerConverter):
    """``<int:...>`` of every route: a positive integer no larger than an id column holds."""

    def __init__(self, map, fixed_digits=0, min=None, max=DB_INT_MAX, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=DB_INT_MAX if max is None or max > DB_INT_MAX else max,
                         signed=signed)


def install(app):
    """Make ``int`` in every URL rule the bounded converter (before any rule is added)."""
    app.url_map.converters["int"] = DatabaseIntConverter


def page_arg(name="page"):
    """The page number asked for in the query string: 1 when absent or not a number, 404 when
    it is past the database's integer range (no list has that many pages)."""
    raw = request.args.get(name, "").strip()
    if not raw.isdigit() or not raw.isascii():
        return 1
    if len(raw) > len(str(DB_INT_MAX)) or int(raw) > DB_INT_MAX:
        abort(404)
    return max(int(raw), 1)
