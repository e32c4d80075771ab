"""HTTP responses for Excel exports (every table on screen has one)."""
from io import BytesIO

from flask import send_file

from fc_market.excel.writer import Column, Sheet, build_workbook  # noqa: F401  (re-exported)

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(filename, sheets):
    return send_file(BytesIO(build_workbook(sheets)), mimetype=XLSX_MIMETYPE, as_attachment=True,
                     download_name=filename)


def month_column(key, header):
    """A column of months (``AAAA-MM`` stored) written the French way: "août 2026"."""
    from collections.abc import Mapping

    from fc_market.formatting import month

    def get(row):
        value = row.get(key) if isinstance(row, Mapping) else getattr(row, key, None)
        return month(value, dash=None) if value else None
    return Column(get, header, "text")
