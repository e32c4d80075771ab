"""Demo step (after billing, before steering): UO4 plans and statements of the past years.

Most lots are complete (plan and statement accepted, documented close to what was paid);
one lot is late (no statement for last year, no plan for this year); one has a gap between
paid and documented (70 %); one spends most of its UO4 on one category; one plan of this
year is under questions.  Amounts split the UO4 paid (certified payable statements) or, for
a year without certified statements, the yearly UO4 price.
"""
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from fc_market.auth.models import Role, User
from fc_market.demo.pdf import minimal_pdf
from fc_market.extensions import db
from fc_market.uo4 import service
from fc_market.uo4.models import FilingKind
from fc_market.uo4.terms import uo4_terms

#: Weight of each category in a balanced lot (same order as the contract's categories)
BALANCED = (30, 20, 15, 15, 10, 8, 2)
CONCENTRATED = (65, 10, 5, 5, 5, 5, 5)


def _yearly_price(lot, year):
    from fc_market.billing.service import lump_sum_for
    lump = lump_sum_for(lot, date(year, 1, 1))
    return lump.yearly_amount if lump else Decimal("0")


def _rows(terms, members, total, weights):
    """Lines splitting ``total`` by ``weights``, alternating the groupement's members."""
    parts = _split(total, weights)
    rows = []
    for n, ((code, _), amount) in enumerate(zip(terms.categories, parts), start=2):
        member = members[(n - 2) % len(members)]
        rows.append((n, {"category": code, "member": member.siret, "amount": str(amount),
                         "description": "Dépenses fictives (démonstration)"}, {}))
    return rows


def _split(total, weights):
    cents = int((total * 100).to_integral_value())
    whole = sum(weights)
    parts = [Decimal(cents * w // whole) / 100 for w in weights]
    parts[0] += total - sum(parts)
    return parts


def _file(lot, year, kind, rows, mandataire, manager, *, accept=True, question=None, docs=True,
          on=None):
    filing = service.get_or_create_filing(lot, year, kind)
    draft, issues = service.save_lines(filing, rows, mandataire)
    if draft is None:
        raise RuntimeError([i.message for i in issues.errors])
    if kind == FilingKind.STATEMENT and docs:
        for line in draft.lines:
            if line.amount > 0:
                service.add_document(draft, line.category,
                                     minimal_pdf(f"Justificatif fictif {lot.code} {year} {line.category}"),
                                     f"justificatif-{line.category}-{year}.pdf", mandataire)
    service._submit(draft, mandataire, on or filing.due_on)
    if question:
        service.decide(draft, manager, "question", question)
    elif accept:
        service.decide(draft, manager, "accept", None)
    return draft


def seed(ctx):
    today = ctx.today
    if not ctx.lots or uo4_terms(ctx.lots[0]) is None:
        ctx.notes.append("UO4 : pas de section [uo4] dans le fichier de marché.")
        return
    manager = db.session.scalar(sa.select(User).where(User.role == Role.MANAGER).order_by(User.id))
    mandataires = {u.lot_id: u for u in db.session.scalars(
        sa.select(User).where(User.role == Role.MANDATAIRE).order_by(User.id))}
    late, gap, concentrated, questioned = (ctx.lots[i % len(ctx.lots)].code for i in (3, 5, 8, 1))
    paid = service.paid_by_year([l.id for l in ctx.lots])
    filed = 0
    for lot in ctx.lots:
        terms, members, mandataire = uo4_terms(lot), service.members_of(lot), mandataires.get(lot.id)
        if not members or mandataire is None or lot.contract is None:
            continue
        for year in service.contract_years(lot):
            if year > today.year:
                break
            budget = _yearly_price(lot, year)
            if not budget:
                continue
            weights = CONCENTRATED if lot.code == concentrated else BALANCED
            if today >= terms.due_on(FilingKind.PLAN, year) or year == today.year:
                if not (lot.code == late and year == today.year):
                    _file(lot, year, FilingKind.PLAN, _rows(terms, members, budget, weights),
                          mandataire, manager,
                          question=("Précisez la part de la communication portée par chaque "
                                    "membre.") if lot.code == questioned and year == today.year else None,
                          on=min(today, terms.due_on(FilingKind.PLAN, year)))
                    filed += 1
            due = terms.due_on(FilingKind.STATEMENT, year)
            if due >= today or (lot.code == late and year == today.year - 1):
                continue
            spent = paid.get((lot.id, year)) or budget
            share = Decimal("0.70") if lot.code == gap else Decimal("0.97")
            _file(lot, year, FilingKind.STATEMENT,
                  _rows(terms, members, (spent * share).quantize(Decimal("0.01")), weights),
                  mandataire, manager, on=due)
            filed += 1
    ctx.notes.append(f"UO4 : {filed} plan(s) et bilan(s) déposés ; lot {late} en retard, lot {gap} "
                     f"justifiant 70 % de l'UO4 payée, lot {concentrated} concentré sur une "
                     f"catégorie, plan de l'année du lot {questioned} en questions.")


__all__ = ["seed"]
