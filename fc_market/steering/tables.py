"""The list of steering flags: one definition for the DSFR table and its Excel export."""
import sqlalchemy as sa
from flask import url_for
from markupsafe import Markup

from fc_market.market.models import FlagRule, Lot
from fc_market.steering import charts, service
from fc_market.steering.models import Flag
from fc_market.tables import Col, Filter, Table, link, lot_filter

#: Open or cleared (the list shows the open ones unless asked)
FLAG_STATES = {"ouverts": "Ouverts", "leves": "Levés", "tous": "Tous"}


def _state(stmt, value):
    if value == "ouverts":
        return stmt.where(Flag.cleared_on.is_(None))
    if value == "leves":
        return stmt.where(Flag.cleared_on.is_not(None))
    return stmt


def _category(stmt, value):
    return stmt.where(Flag.rule_id.in_(sa.select(FlagRule.id).where(FlagRule.category == value)))


def _search(stmt, value):
    pattern = f"%{value.lower()}%"
    return stmt.where(Flag.rule_id.in_(sa.select(FlagRule.id).where(
        sa.func.lower(FlagRule.label).like(pattern))))


def _value_html(flag):
    text = service.format_value(flag.rule.indicator, float(flag.value))
    if flag.cleared_on is None:
        return Markup('<span class="fc-late">{}</span>').format(text)
    return Markup("{}").format(text)


def _rule_html(flag):
    return Markup('<a href="{}">{}</a>{}').format(
        url_for("steering.flag", flag_id=flag.id), flag.rule.label,
        Markup("<br><small>{}</small>").format(flag.detail) if flag.detail else "")


_RULE_LABEL = sa.select(FlagRule.label).where(FlagRule.id == Flag.rule_id).scalar_subquery()

FLAGS = Table(
    "signalements", "Signalements",
    [Col("lot", "Lot", "lot.code", sort=sa.select(Lot.code).where(Lot.id == Flag.lot_id).scalar_subquery(),
         html=link(lambda f: f.lot.code, lambda f: url_for("steering.scorecard", code=f.lot.code))),
     Col("rule", "Règle", "rule.label", sort=_RULE_LABEL, html=_rule_html),
     Col("category", "Catégorie", lambda f: f.rule.category_label.capitalize()),
     Col("value", "Valeur", lambda f: service.format_value(f.rule.indicator, float(f.value)),
         html=_value_html, kind="text"),
     Col("threshold", "Seuil", lambda f: ("plancher " if f.rule.comparison == "below" else "plafond ")
         + service.format_value(f.rule.indicator, float(f.threshold))),
     Col("sample", "Effectif", kind="int", sort=Flag.sample),
     Col("opened_on", "Depuis le", kind="date", sort=Flag.opened_on),
     Col("cleared_on", "Levé le", kind="date", sort=Flag.cleared_on),
     Col("trend", "Tendance", lambda f: service.TREND_LABELS[service.trend(f)]),
     Col("history", "Historique", lambda f: None, export=False,
         html=lambda f: Markup(charts.sparkline([r.value for r in f.readings],
                                                title="Historique des valeurs"))),
     Col("detail", "Lecture", screen=False)],
    filters=[lot_filter(Flag.lot_id),
             Filter("categorie", "Catégorie", "select", apply=_category,
                    options=lambda: [(k, v.capitalize()) for k, v in FlagRule.CATEGORY_LABELS.items()]),
             Filter("etat", "État", "select", apply=_state, options=list(FLAG_STATES.items()),
                    empty=None, default="ouverts"),
             Filter("q", "Règle", "search", apply=_search, hint="Tout ou partie du libellé")],
    default_sort="-opened_on", tiebreak=Flag.id.desc(), noun=("signalement", "signalements"),
    empty="Aucun signalement.")


def _case_filter():
    """Filter by the flag's case (dossier), when the cases module is installed."""
    try:
        from fc_market.cases.models import CASE_LABELS, FlagCase
    except ImportError:  # pragma: no cover - module absent
        return None

    def apply(stmt, value):
        if value == "aucun":
            return stmt.where(~sa.exists().where(FlagCase.flag_id == Flag.id))
        return stmt.where(sa.exists().where(FlagCase.flag_id == Flag.id, FlagCase.status == value))

    return Filter("dossier", "Dossier", "select", apply=apply,
                  options=lambda: [("aucun", "Sans dossier"), *CASE_LABELS.items()])


def _with_cases(flags):
    """Attach each flag's case (``flag.case``), in one query, for the page's rows only."""
    try:
        from fc_market.cases.service import by_flag
    except ImportError:  # pragma: no cover - module absent
        cases = {}
    else:
        cases = by_flag([f.id for f in flags]) if flags else {}
    for flag in flags:
        flag.case = cases.get(flag.id)
    return flags


def _case_text(flag):
    case = getattr(flag, "case", None)
    return f"n° {case.id} — {case.status_label}" if case else None


FLAGS.columns.append(Col("case", "Dossier", _case_text))
_CASES = _case_filter()
if _CASES is not None:
    FLAGS.filters.insert(2, _CASES)
FLAGS.prepare = _with_cases


def base_query():
    return service.flags_query(open_only=False).order_by(None)
