"""Excel exports with openpyxl: typed cells, French formats, no formula injection."""
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any, Callable, Iterable

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

FORMATS = {"decimal": '#,##0.00 "€"', "int": "#,##0", "percent": "0.0%", "date": "DD/MM/YYYY",
           "datetime": "DD/MM/YYYY HH:MM", "text": "@"}
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class Column:
    key: Any
    header: str
    kind: str = "text"

    def value(self, row):
        if callable(self.key):
            return self.key(row)
        if isinstance(row, dict):
            return row.get(self.key)
        return getattr(row, self.key)


@dataclass
class Sheet:
    title: str
    columns: list
    rows: Iterable


def sheet_title(title):
    for ch in "[]:*?/\\":
        title = title.replace(ch, "-")
    return title[:31] or "Feuille"


def build_workbook(sheets):
    wb = Workbook()
    wb.remove(wb.active)
    for spec in sheets:
        ws = wb.create_sheet(sheet_title(spec.title))
        for i, col in enumerate(spec.columns, start=1):
            cell = ws.cell(row=1, column=i, value=col.header)
            cell.font = Font(bold=True)
            ws.column_dimensions[get_column_letter(i)].width = max(12, min(60, len(col.header) + 4))
        r = 1
        for r, row in enumerate(spec.rows, start=2):
            for i, col in enumerate(spec.columns, start=1):
                value = col.value(row)
                cell = ws.cell(row=r, column=i)
                if isinstance(value, str):
                    cell.value = value
                    cell.data_type = "s"
                else:
                    cell.value = value
                if value is not None and col.kind in FORMATS and col.kind != "text":
                    cell.number_format = FORMATS[col.kind]
        ws.freeze_panes = "A2"
        if spec.columns:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(spec.columns))}{max(r, 1)}"
    out = BytesIO()
    wb.save(out)
    return out.getvalue()
