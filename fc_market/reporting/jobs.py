"""Reporting deadlines: reminders before the deadline, late marking after it.

Both run daily (``reporting.deadlines``) and take ``today`` so tests freeze the clock.
They are idempotent: a reminder or a late notice has a ``dedup_key`` per lot, period and
kind, ``Report.late_since`` is set once, and the scheduler's slot key runs the job once a
day however many processes try.

The number of days before the deadline when reminders go out comes from the lot's
contract (``LotContract.reporting_reminder_days``, from the contract file; 3 by default).
"""
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from fc_market.audit.service import record
from fc_market.auth.models import Role
from fc_market.extensions import db
from fc_market.formatting import money, month
from fc_market.market.dates import add_months, period_of
from fc_market.market.models import Lot
from fc_market.market.terms import lot_terms
from fc_market.notifications.service import notify, notify_lot_manager
from fc_market.reporting import service
from fc_market.reporting.models import Report, ReportVersion
from fc_market.scheduler.registry import job

def _submitted_periods(lot_ids):
    """{(lot_id, period)} of the reports with at least one submitted version."""
    stmt = (sa.select(Report.lot_id, Report.period).join(ReportVersion,
                                                         ReportVersion.report_id == Report.id)
            .where(Report.lot_id.in_(lot_ids), ReportVersion.submitted_at.is_not(None)).distinct())
    return set(db.session.execute(stmt).all())


def _lots():
    return db.session.scalars(sa.select(Lot).options(selectinload(Lot.contract))
                              .order_by(Lot.number)).all()


def send_reminders(today):
    """Remind each lot whose report of last month is due within its reminder window and not
    submitted yet; FC receives one summary.  Returns the number of lots reminded."""
    lots = [lot for lot in _lots() if lot.contract is not None]
    submitted = _submitted_periods([lot.id for lot in lots])
    reminded = []
    for lot in lots:
        period = period_of(add_months(today.replace(day=1), -1))
        if period not in service.contract_periods(lot, today):
            continue
        due = service.deadline(lot, period)
        days = lot_terms(lot, today).reporting.reminder_days
        if not (due - timedelta(days=days) <= today <= due) or (lot.id, period) in submitted:
            continue
        left = (due - today).days
        when = "aujourd'hui" if left == 0 else f"dans {left} jour(s), le {due:%d/%m/%Y}"
        note = notify(kind="reporting.reminder", audience="mandataire", lot_id=lot.id,
                      subject=f"Rappel : reporting {month(period)} à déposer avant le {due:%d/%m/%Y}",
                      body=f"Le reporting mensuel du lot {lot.code} pour {month(period)} est attendu "
                           f"{when}. Téléchargez le modèle, remplissez-le et déposez-le sur "
                           "fc_market (ou saisissez-le dans le formulaire web).",
                      link=f"/lots/{lot.code}/reporting/{period}",
                      dedup_key=f"reporting.reminder:{lot.code}:{period}")
        if note is not None:
            reminded.append(lot.code)
    if reminded:
        period = period_of(add_months(today.replace(day=1), -1))
        notify(kind="reporting.reminder", audience="fc", role=Role.MANAGER,
               subject=f"Reporting {month(period)} : {len(reminded)} lot(s) n'ont pas encore déposé",
               body="Rappel envoyé aux mandataires des lots " + ", ".join(reminded) + ".",
               link="/reporting/examen", dedup_key=f"reporting.reminder.fc:{period}:{today.isoformat()}")
    return len(reminded)


def mark_late(today):
    """Mark late every due report of the contract with nothing submitted; notify both sides
    once per report.  Returns the number of reports newly marked late."""
    lots = [lot for lot in _lots() if lot.contract is not None]
    submitted = _submitted_periods([lot.id for lot in lots])
    reports = {(r.lot_id, r.period): r for r in db.session.scalars(
        sa.select(Report).where(Report.lot_id.in_([lot.id for lot in lots])))}
    marked = 0
    for lot in lots:
        for period in service.contract_periods(lot, today):
            if (lot.id, period) in submitted:
                continue
            due = service.deadline(lot, period)
            if due >= today:
                continue
            report = reports.get((lot.id, period)) or service.get_or_create_report(lot, period)
            if report.late_since is not None:
                continue
            report.late_since = due + timedelta(days=1)
            marked += 1
            record("reporting.late", report, summary=f"Reporting {lot.code} {month(period)} en retard "
                   f"(échéance du {due:%d/%m/%Y} dépassée)", actor="planificateur",
                   lot_id=lot.id)
            penalty = lot_terms(lot, today).penalties.late_reporting_per_day
            notify(kind="reporting.late", audience="mandataire", lot_id=lot.id,
                   subject=f"Reporting {month(period)} en retard",
                   body=f"Le reporting du lot {lot.code} pour {month(period)} était attendu le "
                        f"{due:%d/%m/%Y}. Chaque jour de retard peut donner lieu à la pénalité "
                        f"prévue au contrat ({money(penalty)} par jour). Déposez-le dès que possible.",
                   link=f"/lots/{lot.code}/reporting/{period}",
                   dedup_key=f"reporting.late:{lot.code}:{period}")
            notify_lot_manager(lot, kind="reporting.late",
                   subject=f"Reporting {lot.code} {month(period)} en retard",
                   body=f"Le mandataire du lot {lot.code} n'a pas déposé le reporting de "
                        f"{month(period)}, attendu le {due:%d/%m/%Y}.",
                   link=f"/lots/{lot.code}/reporting/{period}",
                   dedup_key=f"reporting.late.fc:{lot.code}:{period}")
    db.session.flush()
    return marked


@job("reporting.deadlines", cron={"hour": 7, "minute": 0},
     description="Rappels avant l'échéance du reporting mensuel et marquage des retards.")
def deadlines(today):
    reminded = send_reminders(today)
    marked = mark_late(today)
    return f"{reminded} rappel(s), {marked} rapport(s) marqué(s) en retard"
