"""Prices in force by date.  Lines are never edited: the line valid on a day is the latest
line whose ``valid_from`` is on or before that day."""
from bisect import bisect_right
from collections import defaultdict

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Price, UnitOfWork


class PriceBook:
    """All price lines of one lot, for fast look-ups by UO and date."""

    def __init__(self, lines):
        by_uo = defaultdict(list)
        for line in sorted(lines, key=lambda p: (p.uo_id, p.valid_from)):
            by_uo[line.uo_id].append(line)
        self._lines = dict(by_uo)
        self._dates = {uo: [p.valid_from for p in ps] for uo, ps in by_uo.items()}

    @classmethod
    def for_lot(cls, lot_id):
        return cls(db.session.scalars(sa.select(Price).where(Price.lot_id == lot_id)).all())

    def line_at(self, uo_id, day):
        """The Price line in force on ``day``, or None when the UO had no price yet."""
        dates = self._dates.get(uo_id)
        if not dates:
            return None
        index = bisect_right(dates, day) - 1
        return self._lines[uo_id][index] if index >= 0 else None

    def price_at(self, uo_id, day):
        line = self.line_at(uo_id, day)
        return None if line is None else line.unit_price

    def history(self, uo_id):
        """[(line, valid_to or None)] oldest first."""
        lines = self._lines.get(uo_id, [])
        out = []
        for i, line in enumerate(lines):
            nxt = lines[i + 1].valid_from if i + 1 < len(lines) else None
            out.append((line, None if nxt is None else nxt.fromordinal(nxt.toordinal() - 1)))
        return out


def current_prices(lot, day):
    """{uo_code: unit price in force on ``day``} for a lot, in catalogue order."""
    book = PriceBook.for_lot(lot.id)
    units = db.session.scalars(sa.select(UnitOfWork).where(UnitOfWork.market_id == lot.market_id)
                               .order_by(UnitOfWork.sort_order)).all()
    out = {}
    for uo in units:
        price = book.price_at(uo.id, day)
        if price is not None:
            out[uo.code] = price
    return out
