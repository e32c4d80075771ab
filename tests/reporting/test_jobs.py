"""Deadline jobs with a frozen clock: reminders before, late marking after; idempotent."""
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.terms import lot_terms
from fc_market.notifications.models import Notification
from fc_market.reporting import jobs, service
from fc_market.reporting.models import Report
from tests.reporting.helpers import lot, make_file, row


def notes(kind):
    return db.session.scalars(sa.select(Notification).where(Notification.kind == kind)
                              .order_by(Notification.id)).all()


def submit_on_time(code, period, user, today, n=1):
    day = date(int(period[:4]), int(period[5:]), 3)
    result = service.import_file(lot(code), period, make_file(code, period, [row(n, day=day)]),
                                 user=user, submit=True, today=today)
    assert result.accepted and result.status == "submitted", result.as_json()


def test_reminders_go_out_inside_the_window_once(idf, users):
    # deadline of 2025-03 is 2025-04-10; default reminder window: 3 days
    assert jobs.send_reminders(date(2025, 4, 6)) == 0
    sent = jobs.send_reminders(date(2025, 4, 7))
    assert sent == len(db.session.scalars(sa.select(Report.id)).all()) or sent == 18
    db.session.commit()
    mandataire = [n for n in notes("reporting.reminder") if n.audience == "mandataire"]
    assert {n.lot.code for n in mandataire} >= {"IDF", "BRE"}
    idf_note = next(n for n in mandataire if n.lot_id == idf.id)
    assert "10/04/2025" in idf_note.subject and "dans 3 jour(s)" in idf_note.body
    fc = [n for n in notes("reporting.reminder") if n.audience == "fc"]
    assert len(fc) == 1 and "IDF" in fc[0].body
    # the next day: no second reminder to the same lots (dedup), job result says so
    assert jobs.send_reminders(date(2025, 4, 8)) == 0
    assert len([n for n in notes("reporting.reminder") if n.audience == "mandataire"]) == len(mandataire)


def test_no_reminder_once_submitted(idf, users):
    submit_on_time("IDF", "2025-03", users["mandataire"], date(2025, 4, 2))
    jobs.send_reminders(date(2025, 4, 8))
    assert idf.id not in {n.lot_id for n in notes("reporting.reminder") if n.audience == "mandataire"}


def test_reminder_days_come_from_the_contract(idf, users):
    day = date(2025, 4, 5)
    assert lot_terms(lot("BRE"), day).reporting.reminder_days == 3  # contracts/cep-demo.toml
    idf.contract.reporting_reminder_days = 5
    db.session.commit()
    assert lot_terms(idf, day).reporting.reminder_days == 5
    jobs.send_reminders(date(2025, 4, 5))  # deadline 10/04, 5 days before
    assert idf.id in {n.lot_id for n in notes("reporting.reminder") if n.audience == "mandataire"}


def test_reports_are_marked_late_after_the_deadline_once(idf, bre, users):
    contract_start = idf.contract.start_date
    assert contract_start == date(2024, 1, 1)
    # everything up to 2025-02 submitted for IDF; BRE submitted nothing
    periods = service.contract_periods(idf, date(2025, 2, 1))
    assert len(periods) == 14
    for n, period in enumerate(periods):
        year, month = int(period[:4]), int(period[5:])
        # on time: after the month has ended, before the 10th of the next one
        submit_on_time("IDF", period, users["mandataire"], date(year + month // 12, month % 12 + 1, 5), n=n)
    # 2024-01 .. 2025-02 are due for the 17 other lots; IDF submitted them all
    assert jobs.mark_late(date(2025, 4, 10)) == 17 * 14
    db.session.commit()
    late = {(r.lot.code, r.period): r.late_since for r in db.session.scalars(
        sa.select(Report).where(Report.late_since.is_not(None)))}
    assert late[("BRE", "2025-02")] == date(2025, 3, 11)
    assert ("IDF", "2025-02") not in late and ("IDF", "2025-03") not in late  # due today: not late yet
    assert ("BRE", "2025-03") not in late
    late_notes = notes("reporting.late")
    assert {(n.audience, n.lot.code) for n in late_notes if n.lot} >= {("mandataire", "BRE"), ("fc", "BRE")}
    # idempotent: a second run (or a second worker) marks nothing and notifies nothing more
    count = len(late_notes)
    assert jobs.mark_late(date(2025, 4, 10)) == 0
    assert len(notes("reporting.late")) == count
    # the day after the deadline IDF's March report is late as well
    assert jobs.mark_late(date(2025, 4, 11)) == 18
    # a late report submitted afterwards carries its days late
    result = service.import_file(idf, "2025-03", make_file("IDF", "2025-03", [row(99)]),
                                 user=users["mandataire"], submit=True, today=date(2025, 4, 14))
    db.session.commit()
    from fc_market.reporting.models import ReportVersion
    assert db.session.get(ReportVersion, result.version_id).days_late == 4


def test_the_scheduled_job_runs_once_per_slot(idf, users):
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from fc_market.scheduler.registry import run_once
    now = datetime(2025, 4, 11, 7, 0, tzinfo=ZoneInfo("Europe/Paris"))
    first = run_once("reporting.deadlines", now)
    assert first.status == "done", first.detail
    assert run_once("reporting.deadlines", now) is None
