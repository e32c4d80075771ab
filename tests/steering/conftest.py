"""Helpers to put validated reporting in the database without the reporting screens."""
from datetime import date, datetime

import pytest
import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import Lot, UnitOfWork
from fc_market.reporting.models import Act, LotFigures, Report, ReportVersion, VersionStatus
from tests.billing.helpers import move


def lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


def uo(code):
    return db.session.scalar(sa.select(UnitOfWork).where(UnitOfWork.code == code))


def make_version(lot_obj, period, acts=(), figures=None, status="validated", days_late=0):
    """A report of ``period`` with one version holding ``acts`` = [(beneficiary, uo code,
    date, mode)] and optional lot figures."""
    year, month = int(period[:4]), int(period[5:7])
    report = db.session.scalar(sa.select(Report).where(Report.lot_id == lot_obj.id,
                                                       Report.period == period))
    if report is None:
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        report = Report(lot_id=lot_obj.id, period=period, period_start=date(year, month, 1),
                        due_on=date(ny, nm, 10))
        db.session.add(report)
        db.session.flush()
    number = len(report.versions) + 1
    version = ReportVersion(report_id=report.id, lot_id=lot_obj.id, number=number,
                            status=VersionStatus.DRAFT, submitted_at=datetime(year, month, 28), days_late=days_late,
                            act_count=len(acts))
    db.session.add(version)
    db.session.flush()
    codes = {}
    for ben, code, day, mode in acts:
        if code not in codes:
            codes[code] = uo(code).id
        db.session.add(Act(version_id=version.id, lot_id=lot_obj.id, beneficiary_id=ben,
                           uo_id=codes[code], act_date=day, mode=mode, csp="5", sector="Q",
                           sex="F", age_band="26-44"))
    if figures:
        db.session.add(LotFigures(version_id=version.id, **figures))
    db.session.flush()
    move(version, status)  # filled as a draft: a submitted version is frozen
    return version


@pytest.fixture
def idf(market):
    return lot("IDF")
