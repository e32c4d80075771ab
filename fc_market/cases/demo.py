"""Demo step (after steering): cases on a few open flags, one at each step of the life
cycle, one action plan past its deadline."""
from datetime import timedelta

import sqlalchemy as sa

from fc_market.auth.models import Role, User
from fc_market.cases import service
from fc_market.extensions import db
from fc_market.steering.models import Flag


def seed(ctx):
    today = ctx.today
    manager = db.session.scalar(sa.select(User).where(User.role == Role.MANAGER).order_by(User.id))
    mandataires = {u.lot_id: u for u in db.session.scalars(
        sa.select(User).where(User.role == Role.MANDATAIRE).order_by(User.id))}
    flags, seen = [], set()
    for flag in db.session.scalars(sa.select(Flag).where(Flag.cleared_on.is_(None)).order_by(Flag.id)):
        if flag.lot_id not in seen and flag.lot_id in mandataires:
            flags.append(flag)
            seen.add(flag.lot_id)
    steps = ("new", "overdue", "submitted", "closed")
    for step, flag in zip(steps, flags):
        case = service.open_case(flag, manager, "Signalement à suivre au prochain comité (note interne).")
        if step == "new":
            continue
        service.acknowledge(case, manager, f"Lecture : {flag.detail or flag.rule.label}.", internal=False)
        due = today - timedelta(days=6) if step == "overdue" else today + timedelta(days=30)
        service.request_plan(case, manager, "Proposez des actions correctrices datées et leurs "
                             "responsables.", due, due - timedelta(days=30))
        if step == "overdue":
            continue
        service.submit_plan(case, mandataires[flag.lot_id], "1. Renfort de l'équipe d'accueil. "
                            "2. Point mensuel avec le référent FC. (démonstration)", [])
        if step == "closed":
            service.follow(case, manager, "Plan retenu.")
            service.close(case, manager, "accepted", "Explication recevable (démonstration).")
    ctx.notes.append(f"Dossiers de signalement : {min(len(flags), len(steps))} (nouveau, plan en "
                     "retard, plan remis, clos).")
