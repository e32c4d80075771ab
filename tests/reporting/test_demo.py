"""The demo seed (at 1 % of the volumes): every lot in every state, real rules obeyed."""
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.reporting.models import DoubleFinancingAlert, Report, ReportVersion


def test_demo_seed_fills_every_lot_in_every_state(market, monkeypatch):
    import fc_market.demo.seed as seed
    monkeypatch.setattr(seed, "DOMAIN_STEPS", ("territory", "reporting"))
    summary = seed.run(date(2026, 11, 23), scale=0.01)
    assert "Reporting :" in summary
    statuses = db.session.execute(sa.select(Report.period, ReportVersion.status, ReportVersion.number,
                                            ReportVersion.days_late)
                                  .join(ReportVersion, ReportVersion.report_id == Report.id)
                                  .where(Report.lot_id == market.lots[0].id)).all()
    by_period = {}
    for period, status, number, late in statuses:
        by_period.setdefault(period, []).append((number, status, late))
    assert by_period["2024-01"] == [(1, "validated", by_period["2024-01"][0][2])]
    assert sorted(by_period["2026-08"])[0][1] == "superseded" and sorted(by_period["2026-08"])[1][1] == "validated"
    pending = by_period["2026-09"]
    assert pending[0][1] == "submitted" and pending[0][2] > 0
    assert sum(1 for p in by_period.values() for v in p if v[1] == "validated") >= 31
    late = db.session.scalars(sa.select(Report).where(Report.period == "2026-10",
                                                      Report.late_since.is_not(None))).all()
    assert len(late) == 18
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DoubleFinancingAlert)) >= 1
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(ReportVersion)
                                .where(ReportVersion.status == "submitted"))
    assert waiting == 18
