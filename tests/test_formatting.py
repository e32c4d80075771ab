"""The French formats read their locale parsed once: every format is exactly Babel's with
the locale given as a string (what the functions did before)."""
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

from fc_market import formatting as f

S = "fr_FR"
AMOUNTS = [Decimal("0"), Decimal("-0"), Decimal("0.005"), Decimal("-0.125"), Decimal("1.005"),
           Decimal("12345.675"), Decimal("-9876543.21"), Decimal("1E+3"), 0, 7, -12, 1234.5,
           0.1 + 0.2, 1e9, Decimal("100.000")]


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure functions: no app, no database (overrides the conftest fixture)."""
    yield


@pytest.mark.parametrize("value", AMOUNTS)
def test_numbers_and_amounts_are_babels_own(value):
    assert f.money(value) == format_currency(Decimal(value), "EUR", locale=S)
    assert f.number(value) == format_decimal(value, locale=S)
    for digits in (0, 1, 2, 3):
        pattern = "#,##0." + "0" * digits if digits else "#,##0"
        assert f.number(value, digits) == format_decimal(value, format=pattern, locale=S)
        assert f.percent(value, digits) == format_percent(value, format=pattern + "\u00a0%", locale=S)
    assert f.integer(value) == format_decimal(int(value), format="#,##0", locale=S)
    for decimals in (0, 2, 4):
        pattern = "#,##0." + "0" * decimals + "\u00a0¤" if decimals else "#,##0\u00a0¤"
        assert f.unit_price(value, decimals) == format_currency(
            Decimal(value), "EUR", format=pattern, locale=S, currency_digits=False)


def test_dates_are_babels_own():
    for d in (date(2025, 1, 1), date(2024, 2, 29), date(2026, 8, 15), date(2026, 12, 31)):
        assert f.day(d) == format_date(d, format="dd/MM/yyyy", locale=S)
        assert f.long_day(d) == format_date(d, format="d MMMM y", locale=S)
        assert f.month(f"{d:%Y-%m}") == format_date(d.replace(day=1), format="MMMM y", locale=S)
    moment = datetime(2026, 3, 29, 0, 30)  # the night Paris moves to summer time
    assert f.moment(moment) == format_datetime(
        moment.replace(tzinfo=timezone.utc).astimezone(f.PARIS),
        format="dd/MM/yyyy HH:mm", locale=S) == "29/03/2026 01:30"
    assert (f.money(None), f.number(None), f.day(None), f.month("")) == ("—",) * 4
