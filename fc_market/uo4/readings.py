"""UO4 indicators for steering's flag mechanism (``steering.service.READING_PROVIDERS``).

- ``uo4_plan_days_late``: days since the deadline of the current year's plan while no
  version was submitted (0 once one is, or before the deadline);
- ``uo4_statement_days_late``: the same for the statement of the previous year;
- ``uo4_documented_share``: spending documented in the statement in force / UO4 paid, for
  the latest year whose statement deadline has passed;
- ``uo4_category_share``: the largest category's share of that statement's spending.
Thresholds are the ``[uo4]`` section's (see :func:`fc_market.uo4.terms.flag_rules_from`).
"""
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.formatting import money, percent
from fc_market.steering.indicators import INDICATORS, NONE, Indicator, Reading
from fc_market.uo4.models import FilingKind, Uo4Filing, Uo4Version
from fc_market.uo4.terms import uo4_terms

NEW_INDICATORS = (
    Indicator("uo4_plan_days_late", "Retard du plan prévisionnel UO4 (jours)", "days", "lower",
              "Jours écoulés depuis l'échéance du plan prévisionnel UO4 de l'année en cours "
              "tant qu'aucune version n'est déposée.", short="Retard plan UO4"),
    Indicator("uo4_statement_days_late", "Retard du bilan UO4 (jours)", "days", "lower",
              "Jours écoulés depuis l'échéance du bilan d'utilisation UO4 de l'année précédente "
              "tant qu'aucune version n'est déposée.", short="Retard bilan UO4"),
    Indicator("uo4_documented_share", "Dépenses UO4 justifiées / UO4 payée", "percent", "higher",
              "Dépenses du bilan d'utilisation en vigueur (accepté, sinon en examen) rapportées à "
              "l'UO4 payée sur l'année (états liquidatifs certifiés), dernière année dont le "
              "bilan est dû.", short="UO4 justifiée"),
    Indicator("uo4_category_share", "Part de la première catégorie de dépenses UO4", "percent",
              "lower", "Part de la catégorie la plus lourde dans les dépenses du bilan UO4 en "
              "vigueur, dernière année dont le bilan est dû.", short="UO4 concentrée"),
)
for _indicator in NEW_INDICATORS:
    INDICATORS.setdefault(_indicator.key, _indicator)


def _submitted(lot_ids, kind):
    """{(lot_id, year)} with a submitted version of that kind."""
    stmt = (sa.select(Uo4Filing.lot_id, Uo4Filing.year).join(Uo4Version, Uo4Version.filing_id == Uo4Filing.id)
            .where(Uo4Filing.lot_id.in_(lot_ids), Uo4Filing.kind == kind,
                   Uo4Version.submitted_at.is_not(None)).distinct())
    return set(db.session.execute(stmt).all())


def _lateness(lots, today, kind):
    done = _submitted([l.id for l in lots], kind)
    out = {}
    for lot in lots:
        terms, contract = uo4_terms(lot), lot.contract
        if terms is None or contract is None:
            continue
        year = today.year if kind == FilingKind.PLAN else today.year - 1
        if not contract.start_date.year <= year <= contract.end_date.year:
            out[lot.id] = NONE
            continue
        due = terms.due_on(kind, year)
        what = "plan prévisionnel" if kind == FilingKind.PLAN else "bilan d'utilisation"
        if (lot.id, year) in done:
            out[lot.id] = Reading(0.0, None, f"{what} {year} déposé")
        elif today <= due:
            out[lot.id] = Reading(0.0, None, f"{what} {year} attendu le {due:%d/%m/%Y}")
        else:
            out[lot.id] = Reading(float((today - due).days), None,
                                  f"{what} {year} non déposé, attendu le {due:%d/%m/%Y}")
    return out


def plan_lateness(lots, today):
    return _lateness(lots, today, FilingKind.PLAN)


def statement_lateness(lots, today):
    return _lateness(lots, today, FilingKind.STATEMENT)


def reviewed_year(lot, today):
    """The latest contract year whose statement deadline has passed (None if none yet)."""
    terms, contract = uo4_terms(lot), lot.contract
    if terms is None or contract is None:
        return None
    for year in range(min(today.year, contract.end_date.year), contract.start_date.year - 1, -1):
        if terms.due_on(FilingKind.STATEMENT, year) < today:
            return year
    return None


def _year_summaries(lots, today):
    from fc_market.uo4.service import summaries
    years = {lot.id: reviewed_year(lot, today) for lot in lots}
    wanted = {y for y in years.values() if y is not None}
    found = summaries(lots, sorted(wanted)) if wanted else {}
    return {lot.id: found.get((lot.id, years[lot.id])) for lot in lots if years[lot.id]}


def documented_share(lots, today):
    out = {}
    for lot_id, s in _year_summaries(lots, today).items():
        if s is None or not s.paid:
            out[lot_id] = Reading(None, None, "aucune UO4 payée sur l'année")
            continue
        share = float(s.documented / s.paid)
        out[lot_id] = Reading(share, None, f"{s.year} : {money(s.documented)} justifiés pour "
                                           f"{money(s.paid)} payés ({percent(share)})")
    return out


def category_share(lots, today):
    out = {}
    for lot_id, s in _year_summaries(lots, today).items():
        if s is None or not s.documented:
            out[lot_id] = Reading(None, None, "aucune dépense déclarée")
            continue
        code, label, _, amount = max(s.categories, key=lambda c: c[3])
        share = float(amount / s.documented)
        out[lot_id] = Reading(share, None, f"{s.year} : « {label} » {money(amount)} sur "
                                           f"{money(s.documented)} ({percent(share)})")
    return out


def register():
    from fc_market.steering.service import READING_PROVIDERS
    READING_PROVIDERS["uo4_plan_days_late"] = plan_lateness
    READING_PROVIDERS["uo4_statement_days_late"] = statement_lateness
    READING_PROVIDERS["uo4_documented_share"] = documented_share
    READING_PROVIDERS["uo4_category_share"] = category_share


register()

__all__ = ["register", "date"]
