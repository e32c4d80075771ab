"""The counts of a version's review page: on PostgreSQL in one pass over its acts."""
import random
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.models import UnitOfWork
from fc_market.reporting import review
from fc_market.reporting.models import Act, Report, ReportVersion, VersionStatus
from fc_market.territory.models import Site
from tests.conftest import lot


def _by_queries(version):
    """The counts as the page read them before, one GROUP BY each."""
    t = Act.__table__
    where = t.c.version_id == version.id
    out = {"by_uo": dict(db.session.execute(
        sa.select(UnitOfWork.code, sa.func.count()).select_from(t)
        .join(UnitOfWork, UnitOfWork.id == t.c.uo_id).where(where).group_by(UnitOfWork.code)).all()),
        "total": db.session.scalar(sa.select(sa.func.count()).select_from(t).where(where)),
        "beneficiaries": db.session.scalar(sa.select(sa.func.count(sa.distinct(t.c.beneficiary_id)))
                                           .where(where))}
    for name in ("mode", "sex", "age_band", "csp", "employment_status", "sector"):
        out[name] = dict(db.session.execute(sa.select(t.c[name], sa.func.count()).where(where)
                                            .group_by(t.c[name])).all())
    return out


def test_the_breakdown_counts_what_one_query_per_count_counted(market):
    idf = lot("IDF")
    rng = random.Random(7)
    report = Report(lot_id=idf.id, period="2025-03", period_start=date(2025, 3, 1),
                    due_on=date(2025, 4, 10))
    db.session.add(report)
    db.session.flush()
    versions = []
    for number in (1, 2, 3):
        version = ReportVersion(report_id=report.id, lot_id=idf.id, number=number,
                                status=VersionStatus.DRAFT, source="web")
        db.session.add(version)
        versions.append(version)
    db.session.flush()
    units = db.session.scalars(sa.select(UnitOfWork).where(UnitOfWork.market_id == idf.market_id,
                                                           UnitOfWork.kind != "lump_sum")).all()
    site = db.session.scalar(sa.select(Site.id).where(Site.lot_id == idf.id).limit(1))
    for n in range(400):  # the third version stays empty
        mode = rng.choice(("telephone", "visio") + (("presentiel",) if site else ()))
        db.session.add(Act(
            version_id=versions[n % 2].id, lot_id=idf.id, uo_id=rng.choice(units).id,
            beneficiary_id=f"B{rng.randint(1, 150):04d}", act_date=date(2025, 3, rng.randint(1, 28)),
            mode=mode, site_id=site if mode == "presentiel" else None,
            sex=rng.choice(("F", "M", None)), age_band=rng.choice(("<26", "26-44", None)),
            csp=rng.choice(("1", "3", "6", None)), employment_status=rng.choice(("emploi", None)),
            sector=rng.choice(("C", "K", None))))
    db.session.flush()
    for version in versions:
        got = review.version_breakdown(version)
        assert got == _by_queries(version)
    assert got["total"] == 0 and versions[0].id and review.version_breakdown(versions[0])["sex"][None]
