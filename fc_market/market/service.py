"""Read models of the market for screens, exports and the command line."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from fc_market.audit.service import record
from fc_market.auth.models import Role, User
from fc_market.extensions import db
from fc_market.market.models import Lot, Market, Operator, Price, UnitOfWork
from fc_market.market.pricing import PriceBook
from fc_market.market.terms import terms_of
from fc_market.territory.population import lot_population


def current_market():
    """The market in force (the latest started one)."""
    return db.session.scalar(sa.select(Market).order_by(Market.start_date.desc()).limit(1))


class MarketError(Exception):
    """A refused change, with a French message for the user."""


def set_lot_manager(lot, manager, user=None):
    """Name (or, with ``manager`` None, withdraw) the FC market manager who follows ``lot``."""
    if manager is not None and (manager.role != Role.MANAGER or not manager.active):
        raise MarketError("Le référent d'un lot est un(e) chargé(e) de marché FC au compte actif.")
    before = lot.manager.full_name if lot.manager else None
    after = manager.full_name if manager else None
    if before == after:
        return False
    lot.manager = manager
    record("market.lot_manager", lot, lot_id=lot.id, user=user,
           summary=f"Lot {lot.code} : référent FC {after or 'retiré'}"
                   + (f" (précédemment {before})" if before else ""),
           changes={"manager": [before, after]})
    return True


def managers():
    """Active FC market managers, by name."""
    return db.session.scalars(sa.select(User).where(User.role == Role.MANAGER,
                                                    User.active.is_(True))
                              .order_by(User.full_name)).all()


def units_of(market):
    return db.session.scalars(sa.select(UnitOfWork).where(UnitOfWork.market_id == market.id)
                              .order_by(UnitOfWork.sort_order)).all()


def lots_overview(lots, day=None):
    """One dict per lot: operator, mandataire, contract figures and prices in force on ``day``."""
    day = day or date.today()
    ids = [lot.id for lot in lots]
    if not ids:
        return []
    loaded = db.session.scalars(
        sa.select(Lot).where(Lot.id.in_(ids)).order_by(Lot.number)
        .options(selectinload(Lot.contract), selectinload(Lot.targets), selectinload(Lot.manager),
                 selectinload(Lot.operator).selectinload(Operator.members))).all()
    prices = db.session.scalars(sa.select(Price).where(Price.lot_id.in_(ids))).all()
    units = {u.id: u for u in db.session.scalars(sa.select(UnitOfWork))}
    books = {}
    for p in prices:
        books.setdefault(p.lot_id, []).append(p)
    rows = []
    for lot in loaded:
        book = PriceBook(books.get(lot.id, []))
        current = {}
        for uo in sorted(units.values(), key=lambda u: u.sort_order):
            if uo.market_id == lot.market_id:
                price = book.price_at(uo.id, day)
                if price is not None:
                    current[uo.code] = price
        target = next((t.entries for t in lot.targets if t.year == day.year), None)
        operator = lot.operator
        mandataire = operator.mandataire if operator else None
        rows.append({
            "lot": lot, "code": lot.code, "number": lot.number, "name": lot.name,
            "region": lot.region_code, "population": lot_population(lot),
            "operator": operator.name if operator else None,
            "members": len(operator.members) if operator else 0,
            "mandataire": mandataire.legal_name if mandataire else None,
            "contract": lot.contract,
            "start_date": lot.contract.start_date if lot.contract else None,
            "end_date": lot.contract.end_date if lot.contract else None,
            "max_amount": lot.contract.max_amount if lot.contract else None,
            "target": target, "prices": current,
            "manager": lot.manager.full_name if lot.manager else None,
        })
    return rows


def lots_json(day=None):
    """The lots as plain JSON-ready dicts for scripts (``flask market lots --json``)."""
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
    out = []
    for row in lots_overview(lots, day):
        out.append({
            "code": row["code"], "number": row["number"], "name": row["name"],
            "region": row["region"], "population": row["population"],
            "operator": row["operator"], "mandataire": row["mandataire"],
            "contract_start": row["start_date"].isoformat() if row["start_date"] else None,
            "contract_end": row["end_date"].isoformat() if row["end_date"] else None,
            "max_amount": str(row["max_amount"]) if row["max_amount"] is not None else None,
            "target": row["target"],
            "prices": {code: str(unit_price(price, terms_of(row["lot"], day)))
                       for code, price in row["prices"].items()},
        })
    return out


def unit_price(price, terms):
    """A unit price shown with the contract's number of decimals (stored with four);
    ``terms``: the lot's (:func:`fc_market.market.terms.terms_of`)."""
    return price.quantize(Decimal(1).scaleb(-terms.rounding.price_decimals))


def price_history(lot):
    """[(uo, [(line, valid_to)])] for the lot's price schedule page."""
    book = PriceBook.for_lot(lot.id)
    return [(uo, book.history(uo.id)) for uo in units_of(lot.market)]
