"""The UO4 and case demo steps: past years complete, one lot late, one with a gap between
paid and documented, one concentrated; cases at each step."""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.cases.models import FlagCase
from fc_market.demo import seed
from fc_market.extensions import db
from fc_market.steering import service as steering
from fc_market.uo4 import readings, service
from fc_market.uo4.models import Uo4Filing, Uo4Status, Uo4Version
from tests.uo4.conftest import certify_twelfths


def test_demo_steps(market):
    from fc_market.cases import demo as cases_demo
    from fc_market.uo4 import demo as uo4_demo
    today = date(2026, 11, 23)
    ctx = seed.SeedContext(today=today, market=market, lots=list(market.lots))
    seed.seed_operators(ctx)
    seed.seed_users(ctx)
    lots = sorted(market.lots, key=lambda l: l.number)
    gap = lots[5]
    certify_twelfths(gap, 2025, range(1, 13), "10000.00")                # paid 120 000 € in 2025
    uo4_demo.seed(ctx)
    db.session.commit()
    late = lots[3]
    # complete lots: 2024 and 2025 statements accepted, plans of 2024-2026 accepted
    first = lots[0]
    kinds = db.session.execute(sa.select(Uo4Filing.year, Uo4Filing.kind, Uo4Version.status)
                               .join(Uo4Version).where(Uo4Filing.lot_id == first.id)).all()
    assert sorted(kinds) == [(2024, "plan", "accepted"), (2024, "statement", "accepted"),
                             (2025, "plan", "accepted"), (2025, "statement", "accepted"),
                             (2026, "plan", "accepted")]
    assert service.find_filing(late, 2025, "statement") is None
    assert service.find_filing(late, 2026, "plan") is None
    share = readings.documented_share([gap], today)[gap.id]
    assert share.value == 0.7                                            # 84 000 / 120 000
    questioned = db.session.scalar(sa.select(Uo4Version).join(Uo4Filing).where(
        Uo4Filing.lot_id == lots[1].id, Uo4Filing.year == 2026, Uo4Filing.kind == "plan"))
    assert questioned.status == Uo4Status.QUESTIONED and questioned.messages
    top = readings.category_share([lots[8]], today)[lots[8].id]
    assert abs(top.value - 0.65) < 0.001 and "Démarche qualité" in top.detail
    result = steering.evaluate(today)
    opened = {(f.lot.code, f.rule.code) for f in result.opened}
    assert (late.code, "uo4_statement_missing") in opened and (late.code, "uo4_plan_missing") in opened
    assert (gap.code, "uo4_documented_floor") in opened
    assert (first.code, "uo4_statement_missing") not in opened
    cases_demo.seed(ctx)
    db.session.commit()
    statuses = sorted(db.session.scalars(sa.select(FlagCase.status)))
    assert statuses == ["closed", "new", "plan_requested", "plan_submitted"]
    assert Decimal(service.in_force(service.find_filing(gap, 2025, "statement")).total) == Decimal("84000.00")


def test_summaries_of_some_years_read_only_those_years(market):
    """summaries reads the versions of the years asked for only: the same versions in force
    and figures as reading every year."""
    from fc_market.uo4 import demo as uo4_demo
    from fc_market.uo4.models import FilingKind
    today = date(2026, 11, 23)
    ctx = seed.SeedContext(today=today, market=market, lots=list(market.lots))
    seed.seed_operators(ctx)
    seed.seed_users(ctx)
    uo4_demo.seed(ctx)
    db.session.flush()
    lot_ids = [l.id for l in market.lots]
    for kind in (FilingKind.PLAN, FilingKind.STATEMENT):
        every = service.in_force_lines(lot_ids, kind)
        assert {y for _, y in every} >= {2024, 2025}
        for years in ([2025], [2024, 2026], [2023]):
            assert service.in_force_lines(lot_ids, kind, years) == \
                {k: v for k, v in every.items() if k[1] in years}
    both = service.summaries(list(market.lots), [2024, 2025])
    for year in (2024, 2025):
        one = service.summaries(list(market.lots), [year])
        assert {k: (s.paid, s.plan, s.statement, s.categories) for k, s in one.items()} == \
            {k: (s.paid, s.plan, s.statement, s.categories) for k, s in both.items() if k[1] == year}
