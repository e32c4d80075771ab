"""Demo step (runs last): aggregates from the seeded reporting, then flags with some history.

Flags are evaluated as of the 11th of each of the last six months, then today, so the
dashboard shows flags with a trend (opened, followed, some cleared).  The earlier
evaluations read today's validated data up to the month then reached (an approximation
suited to a demonstration).  Notifications of these historical openings are not sent.
"""
from collections import Counter
from datetime import date

import sqlalchemy as sa

from fc_market.extensions import db
from fc_market.market.dates import add_months
from fc_market.steering import aggregates, service
from fc_market.steering.models import Flag, FlagReading, SteeringRefresh


def seed(ctx):
    counts = aggregates.rebuild_all([lot.id for lot in ctx.lots])
    db.session.execute(sa.delete(SteeringRefresh))      # queued by the reporting seed
    # A lot with few acts is refreshed at once when its reporting is validated, and its flags
    # are then dated by the machine's clock, not the demo's day: the history starts afresh.
    db.session.execute(sa.delete(FlagReading))
    db.session.execute(sa.delete(Flag))
    first = date(ctx.today.year, ctx.today.month, 11)
    for back in range(6, 0, -1):
        day = add_months(first, -back)
        if day >= ctx.market.start_date:
            service.evaluate(day, notify_new=False)
    result = service.evaluate(ctx.today, notify_new=True)
    by_category = Counter()
    for flags in service.snapshot(ctx.lots, ctx.today).open_flags.values():
        for flag in flags.values():
            by_category[flag.rule.category_label] += 1
    detail = ", ".join(f"{n} {c}" for c, n in sorted(by_category.items())) or "aucun"
    ctx.notes.append(f"Pilotage : {sum(counts.values())} mois-lots agrégés ; signalements ouverts : "
                     f"{detail} ({result.summary()}).")
