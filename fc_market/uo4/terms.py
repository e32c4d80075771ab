"""The lot's UO4 terms, as the contract file's ``[uo4]`` section sets them.

TODO(report): switch :func:`uo4_terms` to ``fc_market.market.terms.lot_terms(lot, day)``
once branch ``report`` lands on main; until then this is the one reader of the stored
``[uo4]`` section, and every UO4 rule goes through it.
"""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.uo4.models import FilingKind, Uo4Terms


@dataclass(frozen=True)
class Terms:
    categories: tuple            # ((code, label), …) in display order
    plan_due: tuple              # (month, day) of year N
    statement_due: tuple         # (month, day) of year N + 1
    documented_share_floor: Decimal
    category_share_ceiling: Decimal

    @property
    def labels(self):
        return dict(self.categories)

    def due_on(self, kind, year):
        """Deadline of the plan (in ``year``) or of the statement (in ``year + 1``)."""
        if kind == FilingKind.PLAN:
            month, day = self.plan_due
            return _day(year, month, day)
        month, day = self.statement_due
        return _day(year + 1, month, day)


def _day(year, month, day):
    try:
        return date(year, month, day)
    except ValueError:  # 29 February of a common year: the last day of February
        return date(year, month, 28)


def uo4_terms(lot, day=None):
    """The UO4 terms in force for ``lot`` on ``day``, or None when the market has none."""
    row = db.session.scalar(sa.select(Uo4Terms).where(Uo4Terms.market_id == lot.market_id))
    if row is None:
        return None
    return Terms(tuple((c["code"], c["label"]) for c in row.categories),
                 (row.plan_due_month, row.plan_due_day),
                 (row.statement_due_month, row.statement_due_day),
                 row.documented_share_floor, row.category_share_ceiling)


def flag_rules_from(spec):
    """The steering rules the ``[uo4]`` section implies (thresholds from the section)."""
    pct = lambda v: f"{Decimal(v) * 100:.0f}\u00a0%"  # noqa: E731
    return [
        {"code": "uo4_plan_missing", "category": "reporting",
         "label": "Plan prévisionnel UO4 non déposé à l'échéance", "indicator": "uo4_plan_days_late",
         "comparison": "above", "threshold": Decimal("0"), "min_sample": 0},
        {"code": "uo4_statement_missing", "category": "reporting",
         "label": "Bilan d'utilisation UO4 non déposé à l'échéance",
         "indicator": "uo4_statement_days_late", "comparison": "above",
         "threshold": Decimal("0"), "min_sample": 0},
        {"code": "uo4_documented_floor", "category": "finance",
         "label": f"Dépenses UO4 justifiées sous {pct(spec['documented_share_floor'])} de l'UO4 payée",
         "indicator": "uo4_documented_share", "comparison": "below",
         "threshold": spec["documented_share_floor"], "min_sample": 0},
        {"code": "uo4_category_ceiling", "category": "finance",
         "label": f"Une catégorie dépasse {pct(spec['category_share_ceiling'])} des dépenses UO4",
         "indicator": "uo4_category_share", "comparison": "above",
         "threshold": spec["category_share_ceiling"], "min_sample": 0},
    ]
