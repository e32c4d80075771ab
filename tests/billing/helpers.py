"""Test helpers: validated report versions built directly with the reporting models
(the reporting screens are another module's; tests need only their data)."""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa

from fc_market.demo.pdf import minimal_pdf
from fc_market.extensions import db
from fc_market.market.dates import add_months, parse_period
from fc_market.market.models import Lot, UnitOfWork
from fc_market.reporting.models import Act, Report, ReportVersion, VersionStatus


def _png():
    import io

    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 145)).save(out, "PNG")
    return out.getvalue()


#: A small well-formed PDF and PNG (uploads parse PDFs and decode images)
PDF = minimal_pdf("Piece de test fc_market")
PNG = _png()


def lot(code):
    return db.session.scalar(sa.select(Lot).where(Lot.code == code))


def uo(market_id, code):
    return db.session.scalar(sa.select(UnitOfWork).where(UnitOfWork.market_id == market_id,
                                                         UnitOfWork.code == code))


def move(version, target):
    """Move a version to ``target`` along the allowed statuses, one flush per move (a
    submitted version is frozen: its acts are added while it is a draft)."""
    for status in VersionStatus.path(version.status, target):
        version.status = status
        db.session.flush()


def make_validated(lot_obj, period, acts, *, days_late=0, emit=False, supersede=None):
    """A validated report version for ``lot_obj`` and ``period``.

    ``acts``: [(uo_code, day or date, count)] — ``count`` acts for distinct beneficiaries.
    ``supersede``: an earlier validated version this one replaces.
    ``emit``: emit report.validated (and report.superseded) like the reporting module does.
    """
    start, _ = parse_period(period)
    report = db.session.scalar(sa.select(Report).where(Report.lot_id == lot_obj.id,
                                                       Report.period == period))
    if report is None:
        report = Report(lot_id=lot_obj.id, period=period, period_start=start,
                        due_on=add_months(start, 1).replace(day=10))
        db.session.add(report)
        db.session.flush()
    number = len(report.versions) + 1
    version = ReportVersion(report_id=report.id, lot_id=lot_obj.id, number=number,
                            status=VersionStatus.DRAFT, source="web", submitted_at=datetime(2025, 1, 1),
                            decided_at=datetime(2025, 1, 2), days_late=days_late,
                            supersedes_id=supersede.id if supersede else None)
    db.session.add(version)
    db.session.flush()
    n = 0
    for code, when, count in acts:
        unit = uo(lot_obj.market_id, code)
        act_date = when if isinstance(when, date) else start.replace(day=when)
        for _ in range(count):
            n += 1
            db.session.add(Act(version_id=version.id, lot_id=lot_obj.id,
                               beneficiary_id=f"B{lot_obj.code}{period}{number}{n:05d}",
                               uo_id=unit.id, act_date=act_date, mode="telephone",
                               proof_ref=f"DS-{n}"))
    version.act_count = n
    db.session.flush()
    move(version, VersionStatus.VALIDATED)
    if supersede is not None:
        move(supersede, VersionStatus.SUPERSEDED)
    if emit:
        from fc_market import events
        if supersede is not None:
            events.emit("report.superseded", supersede)
        events.emit("report.validated", version)
    return version


def D(x):
    return Decimal(x)
