"""French formats for dates, numbers and euros (Babel), used by templates and messages."""
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_currency, format_decimal, format_percent

#: Parsed once: Babel parses a locale given as a string on every call, which was the larger
#: part of a figure's formatting (a finance dashboard formats hundreds of amounts)
LOCALE = Locale.parse("fr_FR")
PARIS = ZoneInfo("Europe/Paris")


def money(value, dash="—"):
    if value is None:
        return dash
    return format_currency(Decimal(value), "EUR", locale=LOCALE)


def number(value, digits=None, dash="—"):
    if value is None:
        return dash
    if digits is not None:
        return format_decimal(value, format="#,##0." + "0" * digits if digits else "#,##0",
                              locale=LOCALE)
    return format_decimal(value, locale=LOCALE)


def percent(value, digits=1, dash="—"):
    if value is None:
        return dash
    pattern = ("#,##0." + "0" * digits if digits else "#,##0") + "\u00a0%"
    return format_percent(value, format=pattern, locale=LOCALE)


def day(value, dash="—", fmt="dd/MM/yyyy"):
    if value is None:
        return dash
    if isinstance(value, datetime):
        value = value.date()
    return format_date(value, format=fmt, locale=LOCALE)


def long_day(value, dash="—"):
    return day(value, dash, fmt="d MMMM y")


def moment(value, dash="—"):
    """A UTC timestamp stored naive, shown in Paris time."""
    if value is None:
        return dash
    if value.tzinfo is None:
        from datetime import timezone
        value = value.replace(tzinfo=timezone.utc)
    return format_datetime(value.astimezone(PARIS), format="dd/MM/yyyy HH:mm", locale=LOCALE)


def month(period, dash="—"):
    """``2025-03`` → ``mars 2025``."""
    if not period:
        return dash
    year, mon = str(period).split("-")
    return format_date(date(int(year), int(mon), 1), format="MMMM y", locale=LOCALE)


def integer(value, dash="—"):
    """``22196`` → ``22 196`` (narrow no-break space between thousands)."""
    if value is None:
        return dash
    return format_decimal(int(value), format="#,##0", locale=LOCALE)


def unit_price(value, decimals=2, dash="—"):
    """A unit price with the contract's number of decimals: ``30`` → ``30,00 €``."""
    if value is None:
        return dash
    pattern = "#,##0." + "0" * decimals + "\u00a0¤" if decimals else "#,##0\u00a0¤"
    return format_currency(Decimal(value), "EUR", format=pattern, locale=LOCALE,
                           currency_digits=False)


FILTERS = {"money": money, "number": number, "percent": percent, "day": day,
           "long_day": long_day, "moment": moment, "month": month, "month_fr": month,
           "fr_int": integer, "unit_price": unit_price}
