"""The lot's UO4 terms, read through the one contract-terms accessor
(:func:`fc_market.market.terms.lot_terms`, group ``uo4``): spending categories, deadlines of
the yearly plan and statement of use, thresholds of the UO4 steering rules.
"""
from decimal import Decimal

from fc_market.market.terms import NoContract, lot_terms


def uo4_terms(lot, day=None):
    """The UO4 terms in force for ``lot`` on ``day``, or None for a lot without contract."""
    try:
        return lot_terms(lot, day).uo4
    except NoContract:
        return None


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
