"""Reporting lists: the review queue, one definition for its DSFR table and its export."""
import sqlalchemy as sa
from flask import url_for
from markupsafe import Markup

from fc_market.market.models import Lot
from fc_market.reporting.models import Report, ReportVersion, VersionStatus
from fc_market.tables import Col, Table, lot_filter, period_filter, search_filter

_LOT_ID = sa.select(Report.lot_id).where(Report.id == ReportVersion.report_id).scalar_subquery()
_PERIOD = sa.select(Report.period).where(Report.id == ReportVersion.report_id).scalar_subquery()
_LOT_CODE = (sa.select(Lot.code).join(Report, Report.lot_id == Lot.id)
             .where(Report.id == ReportVersion.report_id).scalar_subquery())


def _version_html(version):
    return Markup("{}{}").format(version.number, Markup(" <small>(correction)</small>")
                                 if version.supersedes_id else "")


def _late_html(version):
    text = Markup("{} j").format(version.days_late)
    return Markup('<span class="fc-late">{}</span>').format(text) if version.days_late else text


def _examine_html(version):
    return Markup('<a class="fr-btn fr-btn--sm" href="{}" title="Examiner la version {} du lot {}, {}">'
                  'Examiner</a>').format(url_for("reporting.version_page", version_id=version.id),
                                         version.number, version.report.lot.code,
                                         _month(version.report.period))


def _month(period):
    from fc_market.formatting import month
    return month(period)


REVIEW_QUEUE = Table(
    "examen", "En attente d'examen",
    [Col("lot", "Lot", lambda v: f"{v.report.lot.code} — {v.report.lot.name}", sort=_LOT_CODE),
     Col("period", "Période", "report.period", kind="month", sort=_PERIOD),
     Col("number", "Version", kind="int", html=_version_html),
     Col("submitted_at", "Déposée le", kind="datetime", sort=ReportVersion.submitted_at,
         export_label="Déposée le (heure de Paris)"),
     Col("days_late", "Retard", kind="int", sort=ReportVersion.days_late, html=_late_html,
         export_label="Jours de retard"),
     Col("act_count", "Actes", kind="int", sort=ReportVersion.act_count),
     Col("warning_count", "Avertissements", kind="int", sort=ReportVersion.warning_count),
     Col("action", "Action", lambda v: None, export=False, html=_examine_html)],
    filters=[lot_filter(_LOT_ID), period_filter(_PERIOD),
             search_filter("Lot", _LOT_CODE, hint="Code du lot")],
    default_sort="submitted_at", tiebreak=ReportVersion.id, noun=("rapport", "rapports"),
    empty="Aucun rapport en attente.", sheet_title="En attente d'examen")


def review_base():
    return (sa.select(ReportVersion).where(ReportVersion.status == VersionStatus.SUBMITTED)
            .options(sa.orm.joinedload(ReportVersion.report).joinedload(Report.lot)))
