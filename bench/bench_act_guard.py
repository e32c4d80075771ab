"""Cost of the PostgreSQL guard on acts: N acts inserted into a draft version the way the
reporting import does (one INSERT per act through executemany), with no trigger, with the
statement-level trigger of migration 0010, and with an equivalent row-level trigger.

    PYTHONPATH=. .venv/bin/python bench/bench_act_guard.py postgresql://127.0.0.1:5432/DB [N]

The database is emptied (drop_all / create_all) before and after.
"""
import sys
import time
from datetime import date

import sqlalchemy as sa

import config
from fc_market import create_app
from fc_market.extensions import db

ROW_LEVEL = """CREATE OR REPLACE FUNCTION fc_bench_acts_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM report_versions p WHERE p.id = NEW.version_id AND p.status <> 'draft') THEN
    RAISE EXCEPTION 'fc_market: INSERT refusé sur acts';
  END IF;
  RETURN NEW;
END $$"""


def main(url, n):
    app = create_app(config.TestConfig, SQLALCHEMY_DATABASE_URI=config.normalise_database_url(url))
    with app.app_context():
        from fc_market.market.contract_file import load_file
        from fc_market.market.models import Lot, UnitOfWork
        from fc_market.reporting.demo import ACT_COLUMNS
        from fc_market.reporting.models import Act, Report, ReportVersion
        db.drop_all()
        db.create_all()
        load_file("contracts/cep-demo.toml")
        db.session.execute(sa.text(ROW_LEVEL))
        db.session.commit()
        lot = db.session.scalar(sa.select(Lot).where(Lot.code == "IDF"))
        uo = db.session.scalar(sa.select(UnitOfWork).where(UnitOfWork.code == "UO1"))
        best, month = {}, 0

        def setup(variant):
            acts_triggers = ("fc_guard_acts_insert", "fc_bench_acts_row")
            for name in acts_triggers:
                db.session.execute(sa.text(f"DROP TRIGGER IF EXISTS {name} ON acts"))
            if variant == "statement":
                db.session.execute(sa.text(
                    "CREATE TRIGGER fc_guard_acts_insert AFTER INSERT ON acts REFERENCING NEW TABLE "
                    "AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION fc_guard_acts()"))
            elif variant == "row":
                db.session.execute(sa.text("CREATE TRIGGER fc_bench_acts_row BEFORE INSERT ON acts "
                                           "FOR EACH ROW EXECUTE FUNCTION fc_bench_acts_row()"))

        for _ in range(3):
            for variant in ("none", "statement", "row"):
                month += 1
                start = date(2020 + month // 12, month % 12 + 1, 1)
                report = Report(lot_id=lot.id, period=f"{start:%Y-%m}", period_start=start,
                                due_on=start.replace(day=28))
                db.session.add(report)
                db.session.flush()
                version = ReportVersion(report_id=report.id, lot_id=lot.id, number=1)
                db.session.add(version)
                db.session.flush()
                setup(variant)
                rows = [{"version_id": version.id, "lot_id": lot.id, "beneficiary_id": f"B{i:07d}",
                         "uo_id": uo.id, "act_date": start, "mode": "telephone"} for i in range(n)]
                t = time.perf_counter()
                db.session.execute(Act.__table__.insert(), rows)
                elapsed = time.perf_counter() - t
                db.session.commit()
                best[variant] = min(best.get(variant, elapsed), elapsed)
        db.drop_all()
    for variant, seconds in best.items():
        print(f"{variant:<10} {n} actes : {seconds:.2f} s ({seconds / n * 1e6:.0f} µs/acte)")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10000)
