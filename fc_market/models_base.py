"""What every model module shares, with no import of any domain module: the clock of stored
timestamps and the column types of money and rates.  (The declarative base and ``db`` are in
:mod:`fc_market.extensions`.)"""
from datetime import datetime, timezone

import sqlalchemy as sa

#: Amounts in euros, to the cent (Decimal, never float)
MONEY = sa.Numeric(14, 2)
#: Unit prices may carry more decimals than cents when a contract says so.
UNIT_PRICE = sa.Numeric(14, 4)
#: Rates and coefficients (VAT, penalties, revision indices)
RATE = sa.Numeric(7, 4)


def utcnow():
    """Now, in UTC, naive: every stored timestamp is UTC."""
    return datetime.now(timezone.utc).replace(tzinfo=None)
