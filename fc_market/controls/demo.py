"""Demo control campaigns on top of the reporting seed: finished ones (with their withholding
applied to the statements) and running ones (answers and verdicts half done).

Runs after the reporting seed; uses whatever validated months exist (nothing when there
are none).  Proof files are one tiny illustrative PDF per answered item of the running
campaigns only, to stay fast.
"""
from datetime import datetime, time, timedelta

import sqlalchemy as sa

from fc_market.auth.models import Role, User
from fc_market.controls import service
from fc_market.controls.models import NONCONFORMITY_REASONS, Verdict
from fc_market.demo.pdf import minimal_pdf
from fc_market.market.terms import OTHER_REASON
from fc_market.extensions import db
from fc_market.reporting.models import Report, ReportVersion, VersionStatus

#: Lots that get campaigns (first ones with enough validated months, in this order)
PREFERRED = ("IDF", "ARA", "NAQ", "HDF", "OCC", "BRE", "GUA")
DEMO_PDF = minimal_pdf("Piece justificative fictive (demonstration fc_market)")
REASONS = [k for k in NONCONFORMITY_REASONS if k != OTHER_REASON]


def _validated_periods(lot_id):
    return db.session.scalars(
        sa.select(Report.period).join(ReportVersion, ReportVersion.report_id == Report.id)
        .where(Report.lot_id == lot_id, ReportVersion.status == VersionStatus.VALIDATED)
        .distinct().order_by(Report.period)).all()


def _user(role):
    return db.session.scalar(sa.select(User).where(User.role == role).order_by(User.id).limit(1))


def seed(ctx):
    rng = ctx.rng("controls")
    manager = _user(Role.MANAGER)
    by_code = {lot.code: lot for lot in ctx.lots}
    chosen = []
    for code in PREFERRED:
        lot = by_code.get(code)
        if lot is None or lot.contract is None:
            continue
        periods = _validated_periods(lot.id)
        if len(periods) >= 4:
            chosen.append((lot, periods))
        if len(chosen) == 3:
            break
    if not chosen:
        ctx.notes.append("Contrôles de service fait : aucun mois validé, aucune campagne créée.")
        return
    finished = running = 0
    for index, (lot, periods) in enumerate(chosen):
        # a finished campaign on a quarter about a year back (or the oldest months)
        old = periods[max(0, len(periods) - 13):max(0, len(periods) - 13) + (3 if index == 0 else 1)]
        opened_on = ctx.today - timedelta(days=75)
        campaign = service.open_campaign(lot, old, manager, seed=f"demo-{lot.code}-{old[0]}",
                                         today=opened_on,
                                         note="Campagne de démonstration (données fictives).")
        campaign.opened_at = datetime.combine(opened_on, time(9, 0))
        mandataire = db.session.scalar(sa.select(User).where(User.lot_id == lot.id).limit(1))
        for item in campaign.items:
            item.answer_reference = f"DS-{item.beneficiary_id[-6:]}"
            item.answered_at = datetime.combine(opened_on + timedelta(days=rng.randint(3, 25)), time(14, 0))
            item.answered_by_id = getattr(mandataire, "id", None)
            roll = rng.random()
            if roll < 0.07:
                service.judge_item(item, manager, Verdict.NONCONFORMING, reason_code=rng.choice(REASONS),
                                   comment="Constat de démonstration.")
            elif roll < 0.10:
                service.judge_item(item, manager, Verdict.UNPROVEN,
                                   comment="Pièce illisible (démonstration).")
            else:
                service.judge_item(item, manager, Verdict.CONFORMING)
        service.close_campaign(campaign, manager)
        campaign.closed_at = datetime.combine(opened_on + timedelta(days=40), time(16, 0))
        finished += 1

        # a running campaign on a recent month: deadline ahead, half answered, some verdicts
        recent = periods[-3] if len(periods) >= 3 else periods[-1]
        if recent in old:
            continue
        opened_on = ctx.today - timedelta(days=12)
        live = service.open_campaign(lot, [recent], manager, seed=f"demo-{lot.code}-{recent}",
                                     today=opened_on, note="Campagne en cours (démonstration).")
        live.opened_at = datetime.combine(opened_on, time(9, 0))
        for n, item in enumerate(live.items):
            if n % 2:
                continue
            files = [("piece-justificative.pdf", DEMO_PDF)] if n % 6 == 0 else []
            service.answer_item(item, mandataire, reference=f"DS-{item.beneficiary_id[-6:]}",
                                files=files, today=opened_on + timedelta(days=3))
            if n % 4 == 0:
                service.judge_item(item, manager, Verdict.CONFORMING)
        running += 1
    db.session.flush()
    ctx.notes.append(f"Contrôles de service fait : {finished} campagne(s) clôturée(s) avec retenue "
                     f"appliquée, {running} en cours ({', '.join(l.code for l, _ in chosen)}).")
