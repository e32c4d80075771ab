"""Calendar helpers for periods (``YYYY-MM``) and contract terms."""
import calendar
import re
from datetime import date

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def add_months(d, months):
    """Same day ``months`` later, clamped to the month's last day."""
    month_index = d.month - 1 + months
    year, month = d.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def parse_period(text):
    """``"2025-03"`` → ``(date(2025, 3, 1), date(2025, 3, 31))``; ValueError with a French message."""
    match = PERIOD_RE.match(str(text or "").strip())
    if not match:
        raise ValueError(f"Période « {text} » invalide : le format attendu est AAAA-MM (ex. 2025-03).")
    year, month = int(match.group(1)), int(match.group(2))
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def period_of(d):
    return f"{d.year:04d}-{d.month:02d}"


def next_period(period):
    start, _ = parse_period(period)
    return period_of(add_months(start, 1))


def month_periods(start, end):
    """Every ``YYYY-MM`` from the month of ``start`` to the month of ``end`` inclusive."""
    current = date(start.year, start.month, 1)
    while current <= end:
        yield period_of(current)
        current = add_months(current, 1)
