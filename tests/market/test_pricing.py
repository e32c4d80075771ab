from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot, UnitOfWork
from fc_market.market.pricing import PriceBook, current_prices
from fc_market.market.service import lots_json


def uo(code):
    return db.session.scalar(sa.select(UnitOfWork).where(UnitOfWork.code == code))


def lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


def test_price_in_force_follows_validity_dates(market):
    book = PriceBook.for_lot(lot("ARA").id)
    uo21 = uo("UO2.1").id
    assert book.price_at(uo21, date(2023, 12, 31)) is None  # before the contract
    assert book.price_at(uo21, date(2024, 1, 1)) == Decimal("600.00")
    assert book.price_at(uo21, date(2025, 4, 14)) == Decimal("600.00")
    assert book.price_at(uo21, date(2025, 4, 15)) == Decimal("620.00")  # amendment day
    assert book.price_at(uo21, date(2027, 6, 1)) == Decimal("620.00")
    line = book.line_at(uo21, date(2025, 5, 1))
    assert line.amendment.number == 1 and line.origin == "amendment"
    history = book.history(uo21)
    assert [(line.valid_from, valid_to) for line, valid_to in history] == [
        (date(2024, 1, 1), date(2025, 4, 14)), (date(2025, 4, 15), None)]


def test_overseas_prices_and_lump_sum(market):
    prices = current_prices(lot("GUY"), date(2025, 1, 1))
    assert prices["UO1"] == Decimal("165.00")
    # UO4 amended from 2024-10-01
    assert current_prices(lot("GUY"), date(2024, 9, 30))["UO4"] + 12000 == prices["UO4"]


def test_lots_json_gives_codes_dates_and_current_prices(market):
    rows = lots_json(date(2025, 6, 1))
    assert len(rows) == 18
    ara = next(r for r in rows if r["code"] == "ARA")
    assert ara["region"] == "84"
    assert ara["contract_start"] == "2024-01-01" and ara["contract_end"] == "2027-12-31"
    assert ara["prices"]["UO2.1"] == "620.00"
    assert set(ara["prices"]) == {"UO0", "UO1", "UO2.1", "UO2.2", "UO4"}
