#!/usr/bin/env python
"""Time the payable statements and the controls/billing demo steps on national volumes.

    .venv/bin/python bench/bench_billing.py [--months 24] [--scale 1.0]

Builds a throw-away SQLite database: the demo contract, the demo operators and users, and
``--months`` validated months per lot with acts bulk-inserted at the lots' target volumes
(entries a year / 12, split UO0 40 %, UO1 35 %, UO2.1 20 %, UO2.2 5 %) times ``--scale``.
Then times one statement, the controls demo step and the billing demo step, and prints them.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date, datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="fc_bench_billing_")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.db"
    os.environ["UPLOAD_FOLDER"] = os.path.join(tmp, "files")
    os.environ.setdefault("SECRET_KEY", "bench")

    import flask_migrate
    import sqlalchemy as sa

    import config
    from fc_market import create_app
    from fc_market.extensions import db
    # the database and files given to the factory: the configuration read the environment
    # when it was first imported (by another benchmark of the same run, maybe)
    app = create_app(config.Config, SQLALCHEMY_DATABASE_URI=os.environ["DATABASE_URL"],
                     UPLOAD_FOLDER=os.environ["UPLOAD_FOLDER"])
    with app.app_context():
        flask_migrate.upgrade()
        from fc_market.demo.seed import SeedContext, seed_operators, seed_users
        from fc_market.market.contract_file import load_file
        from fc_market.market.dates import add_months, period_of
        from fc_market.market.models import Lot, LotTarget, UnitOfWork
        from fc_market.market.service import current_market
        from fc_market.reporting.models import Act, Report, ReportVersion
        load_file(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "contracts", "cep-demo.toml"))
        market = current_market()
        lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)).all()
        today = date(2026, 11, 23)
        ctx = SeedContext(today=today, market=market, lots=lots)
        seed_operators(ctx)
        seed_users(ctx)
        db.session.commit()
        units = {u.code: u.id for u in db.session.scalars(sa.select(UnitOfWork))}
        split = {"UO0": 0.40, "UO1": 0.35, "UO2.1": 0.20, "UO2.2": 0.05}
        first = add_months(date(today.year, today.month, 1), -args.months - 1)
        started = time.perf_counter()
        acts_total = 0
        for lot in lots:
            target = db.session.scalar(sa.select(LotTarget.entries).where(LotTarget.lot_id == lot.id)
                                       .order_by(LotTarget.year).limit(1)) or 1200
            per_month = target * args.scale / 12
            for m in range(args.months):
                start = add_months(first, m)
                period = period_of(start)
                report = Report(lot_id=lot.id, period=period, period_start=start,
                                due_on=add_months(start, 1).replace(day=10))
                db.session.add(report)
                db.session.flush()
                # a validated version is frozen (fc_market.integrity): its act count is
                # given when it is created
                count = sum(int(per_month * share) for share in split.values())
                version = ReportVersion(report_id=report.id, lot_id=lot.id, number=1, status="validated",
                                        submitted_at=datetime(2025, 1, 1), days_late=(m % 7 == 0) * 3,
                                        act_count=count)
                db.session.add(version)
                db.session.flush()
                rows = []
                for code, share in split.items():
                    for i in range(int(per_month * share)):
                        rows.append({"version_id": version.id, "lot_id": lot.id,
                                     "beneficiary_id": f"{lot.code}{period}{code}{i:06d}",
                                     "uo_id": units[code], "act_date": start.replace(day=1 + i % 28),
                                     "mode": "telephone"})
                db.session.execute(sa.insert(Act), rows)
                assert len(rows) == count
                acts_total += len(rows)
        db.session.commit()
        print(f"setup: {len(lots)} lots x {args.months} validated months, {acts_total:,} acts "
              f"({time.perf_counter() - started:.1f} s)")

        from fc_market.billing import demo as billing_demo, service
        from fc_market.controls import demo as controls_demo
        idf = next(l for l in lots if l.code == "IDF")
        period = period_of(add_months(first, args.months - 1))
        t = time.perf_counter()
        service.refresh_statement(idf, period)
        db.session.rollback()
        print(f"one statement (IDF {period}): {(time.perf_counter() - t) * 1000:.0f} ms")
        t = time.perf_counter()
        controls_demo.seed(ctx)
        db.session.commit()
        print(f"controls demo step: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        billing_demo.seed(ctx)
        db.session.commit()
        print(f"billing demo step: {time.perf_counter() - t:.1f} s")
        for note in ctx.notes[-2:]:
            print("  " + note)


if __name__ == "__main__":
    main()
