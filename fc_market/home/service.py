"""One to-do list per role, computed from the domain modules' data.

Each function returns :class:`Section` objects (a title and its :class:`Item` list); an item
names what is to be done, by when, and links to the screen where it is done.  Templates
only render them.  A mandataire's lists read only its own lot.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import url_for
from sqlalchemy.orm import joinedload, selectinload

from fc_market.auth.models import Role, User
from fc_market.extensions import db
from fc_market.formatting import day, integer, moment, money, month

#: Interest and flat indemnity are paid within 45 days of the payment of the principal
#: (Code de la commande publique, R. 2192-36).
INTEREST_PAYMENT_DAYS = 45
#: A flag opened in the last days is "new" on the manager's home.
NEW_FLAG_DAYS = 30
#: A UO4 plan or statement shows on the mandataire's home this many days before its deadline.
UO4_NOTICE_DAYS = 60
#: Items shown per section; the section links to the full list beyond.
MAX_ITEMS = 10


@dataclass
class Item:
    label: str
    url: str
    #: Deadline, when there is one
    due_on: date | None = None
    detail: str | None = None
    #: True when the deadline has passed
    late: bool = False


@dataclass
class Section:
    key: str
    title: str
    items: list = field(default_factory=list)
    #: Total count (may exceed the items shown)
    total: int | None = None
    #: Link to the full list
    more_url: str | None = None
    more_label: str = "Voir la liste complète"
    #: Sentence shown when nothing is waiting
    empty: str = "Rien en attente."
    #: A plain sentence instead of items (e.g. a check's result)
    summary: str | None = None

    @property
    def count(self):
        return self.total if self.total is not None else len(self.items)

    @property
    def shown(self):
        return self.items[:MAX_ITEMS]


def _due_text(due_on, today, verb="avant le"):
    if due_on is None:
        return None
    if due_on < today:
        days = (today - due_on).days
        return f"en retard de {integer(days)} jour{'s' if days > 1 else ''} (attendu le {day(due_on)})"
    return f"{verb} {day(due_on)}"


def _optional(module, name):
    """An attribute of a module that may not exist yet on this branch (None otherwise)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


# ------------------------------------------------------------------------------ mandataire

def mandataire_todo(user, today):
    from fc_market.market.models import Lot
    lot = db.session.get(Lot, user.lot_id)
    return [s for s in (_reports_due(lot, today), _rejected_versions([lot.id]),
                        _control_items([lot.id], today), _statements_to_invoice([lot.id]),
                        _interruptions([lot.id]), _uo4_due(lot, today),
                        _cases_awaiting_plan([lot.id], today), _unread(user)) if s is not None]


def _reports_due(lot, today):
    """This month's report (the previous month's, due this month) and any report late."""
    from fc_market.reporting import review
    from fc_market.reporting.models import VersionStatus
    section = Section("reports", "Reporting mensuel à déposer",
                      empty="Tous vos reportings échus sont déposés.")
    for row in review.lot_periods(lot, today, newest_first=False):
        if row.first_submitted is not None:
            continue
        if row.due_on - today > timedelta(days=31):
            continue  # not yet this month's report
        draft = any(v.status == VersionStatus.DRAFT for v in row.versions)
        section.items.append(Item(
            f"Reporting de {month(row.period)}" + (" (brouillon en cours)" if draft else ""),
            url_for("reporting.period_page", code=lot.code, period=row.period),
            due_on=row.due_on, late=row.due_on < today, detail=_due_text(row.due_on, today, "à déposer avant le")))
    return section


def _rejected_versions(lot_ids):
    """Rejected versions not yet replaced by a newer submitted or validated one."""
    from fc_market.reporting.models import Report, ReportVersion, VersionStatus
    versions = db.session.scalars(
        sa.select(ReportVersion).where(ReportVersion.lot_id.in_(lot_ids),
                                       ReportVersion.status == VersionStatus.REJECTED)
        .options(joinedload(ReportVersion.report).joinedload(Report.lot))
        .order_by(ReportVersion.decided_at.desc())).all()
    section = Section("rejected", "Versions rejetées à corriger", empty="Aucune version rejetée.")
    for v in versions:
        if _newer_live(v):
            continue
        reason = (v.decision_comment or "").strip() or "motif non précisé"
        section.items.append(Item(
            f"Reporting de {month(v.report.period)}, version {v.number} rejetée le {day(v.decided_at)}",
            url_for("reporting.period_page", code=v.report.lot.code, period=v.report.period),
            detail=f"Motif : {reason}"))
    return section


def _newer_live(version):
    from fc_market.reporting.models import ReportVersion, VersionStatus
    return db.session.scalar(sa.select(sa.func.count()).select_from(ReportVersion).where(
        ReportVersion.report_id == version.report_id, ReportVersion.number > version.number,
        ReportVersion.status.in_([VersionStatus.SUBMITTED, VersionStatus.VALIDATED]))) > 0


def _control_items(lot_ids, today):
    from fc_market.controls.models import CampaignStatus, ControlCampaign, ControlItem, Verdict
    rows = db.session.execute(
        sa.select(ControlCampaign, sa.func.count(ControlItem.id))
        .join(ControlItem, ControlItem.campaign_id == ControlCampaign.id)
        .where(ControlCampaign.lot_id.in_(lot_ids), ControlCampaign.status == CampaignStatus.OPEN,
               ControlItem.answered_at.is_(None), ControlItem.verdict == Verdict.PENDING)
        .group_by(ControlCampaign.id).order_by(ControlCampaign.response_due_on)).all()
    section = Section("controls", "Contrôles de service fait : dossiers à justifier",
                      empty="Aucun dossier de contrôle en attente de vos justificatifs.")
    for campaign, count in rows:
        section.items.append(Item(
            f"Contrôle {campaign.reference} : {integer(count)} dossier{'s' if count > 1 else ''} à justifier",
            url_for("controls.campaign", campaign_id=campaign.id), due_on=campaign.response_due_on,
            late=campaign.response_due_on < today,
            detail=_due_text(campaign.response_due_on, today, "réponse attendue avant le")))
    return section


def _statements_to_invoice(lot_ids):
    from fc_market.billing.models import Invoice, InvoiceStatus, PayableStatement, StatementStatus
    live = sa.select(Invoice.id).where(Invoice.statement_id == PayableStatement.id,
                                       Invoice.kind == "invoice",
                                       Invoice.status != InvoiceStatus.REJECTED)
    statements = db.session.scalars(
        sa.select(PayableStatement).where(PayableStatement.lot_id.in_(lot_ids),
                                          PayableStatement.status == StatementStatus.CERTIFIED,
                                          PayableStatement.amount_payable > 0, ~live.exists())
        .order_by(PayableStatement.period, PayableStatement.rank)).all()
    section = Section("statements", "États liquidatifs certifiés en attente de votre facture",
                      empty="Chaque état certifié a sa facture.")
    for s in statements:
        section.items.append(Item(
            f"{s.title} — {month(s.period)} : {money(s.amount_payable)} à facturer",
            url_for("billing.new_invoice", statement_id=s.id)))
    return section


def _interruptions(lot_ids):
    """Interruptions of the payment term awaiting the mandataire's documents (when the
    payment clock's model exists)."""
    model = _optional("fc_market.billing.models", "InvoiceInterruption")
    if model is None:
        return None
    from fc_market.billing.models import Invoice
    rows = db.session.scalars(
        sa.select(model).join(Invoice, Invoice.id == model.invoice_id)
        .where(Invoice.lot_id.in_(lot_ids), model.documents_received_on.is_(None))
        .options(joinedload(model.invoice)).order_by(model.notified_on)).all()
    section = Section("interruptions", "Délai de paiement interrompu : documents à fournir",
                      empty="Aucune facture n'attend de document de votre part.")
    for r in rows:
        section.items.append(Item(
            f"Facture {r.invoice.number} : délai interrompu le {day(r.notified_on)}",
            url_for("billing.invoice", invoice_id=r.invoice_id),
            detail=f"Documents attendus : {r.documents_expected}"))
    return section


def _uo4_due(lot, today):
    from fc_market.uo4.models import KIND_LABELS, FilingKind, Uo4Filing, Uo4Status, Uo4Version
    from fc_market.uo4.terms import uo4_terms
    terms, contract = uo4_terms(lot), lot.contract
    if terms is None or contract is None:
        return None
    section = Section("uo4", "UO4 : plan et bilan à déposer, questions de FC",
                      empty="Rien à déposer pour l'UO4.")
    submitted = set(db.session.execute(
        sa.select(Uo4Filing.year, Uo4Filing.kind).join(Uo4Version, Uo4Version.filing_id == Uo4Filing.id)
        .where(Uo4Filing.lot_id == lot.id, Uo4Version.submitted_at.is_not(None))).all())
    url = url_for("uo4.lot_page", code=lot.code)
    for kind, year in ((FilingKind.PLAN, today.year), (FilingKind.STATEMENT, today.year - 1)):
        if not contract.start_date.year <= year <= contract.end_date.year:
            continue
        if (year, str(kind)) in submitted or (year, kind) in submitted:
            continue
        due = terms.due_on(kind, year)
        if due - today > timedelta(days=UO4_NOTICE_DAYS):
            continue
        section.items.append(Item(f"{KIND_LABELS[kind]} UO4 {year} à déposer", url, due_on=due,
                                  late=due < today, detail=_due_text(due, today)))
    questioned = db.session.scalars(
        sa.select(Uo4Version).where(Uo4Version.lot_id == lot.id,
                                    Uo4Version.status == Uo4Status.QUESTIONED)
        .options(joinedload(Uo4Version.filing))).all()
    for v in questioned:
        section.items.append(Item(
            f"{v.filing.kind_label} UO4 {v.filing.year}, version {v.number} : FC vous pose des questions",
            url, detail="Répondez pour que l'examen reprenne."))
    return section


def _cases_awaiting_plan(lot_ids, today):
    from fc_market.cases.models import CaseStatus, FlagCase
    from fc_market.steering.models import Flag
    cases = db.session.scalars(
        sa.select(FlagCase).where(FlagCase.lot_id.in_(lot_ids),
                                  FlagCase.status == CaseStatus.PLAN_REQUESTED)
        .options(selectinload(FlagCase.flag).selectinload(Flag.rule))
        .order_by(FlagCase.plan_due_on)).all()
    section = Section("cases", "Plans d'action demandés par FC", more_url=url_for("cases.mine"),
                      more_label="Tous mes plans d'action", empty="Aucun plan d'action attendu de vous.")
    for c in cases:
        section.items.append(Item(f"Plan d'action : {c.flag.rule.label}",
                                  url_for("cases.case_page", case_id=c.id), due_on=c.plan_due_on,
                                  late=c.plan_due_on < today,
                                  detail=_due_text(c.plan_due_on, today, "à remettre avant le")))
    return section


def _unread(user):
    from fc_market.notifications.models import Notification
    from fc_market.notifications.service import visible_to
    base = visible_to(user).where(Notification.read_at.is_(None))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(
        base.order_by(None).options().subquery()))
    notes = db.session.scalars(base.limit(MAX_ITEMS)).all()
    section = Section("messages", "Messages non lus", total=total,
                      more_url=url_for("notifications.outbox"), more_label="Tous les messages",
                      empty="Aucun message non lu.")
    for n in notes:
        section.items.append(Item(n.subject, url_for("home.open_message", note_id=n.id),
                                  detail=f"Reçu le {day(n.created_at)}"))
    return section


def open_message(user, note_id, now=None):
    """Mark a message the user may read as read; returns where it leads (its in-app link,
    else the messages), None when the user may not read it."""
    from fc_market.models_base import utcnow
    from fc_market.notifications.models import Notification
    from fc_market.notifications.service import visible_to
    note = db.session.scalar(visible_to(user).where(Notification.id == note_id))
    if note is None:
        return None
    if note.read_at is None:
        note.read_at = now or utcnow()
    link = note.link or ""
    if link.startswith("/") and not link.startswith("//") and "\\" not in link:
        return link
    return url_for("notifications.outbox")


# ----------------------------------------------------------------------- market manager

def manager_todo(user, today):
    return [s for s in (_versions_to_review(), _flags(today), _campaigns_to_judge(today),
                        _site_requests(), _late_reports(today), _uo4_to_review(),
                        _cases_to_follow(today), _unread(user)) if s is not None]


def _versions_to_review():
    from fc_market.reporting import review
    queue = review.review_queue()
    section = Section("review", "Reportings déposés à examiner", total=len(queue),
                      more_url=url_for("reporting.review_list"), more_label="File d'examen",
                      empty="Aucun reporting en attente d'examen.")
    for v in queue[:MAX_ITEMS]:
        section.items.append(Item(
            f"Lot {v.report.lot.code} — reporting de {month(v.report.period)}, version {v.number}",
            url_for("reporting.version_page", version_id=v.id),
            detail=f"Déposé le {day(v.submitted_at)}"))
    return section


def _flags(today):
    from fc_market.steering import service as steering
    from fc_market.steering.models import Flag
    flags = db.session.scalars(
        sa.select(Flag).where(Flag.cleared_on.is_(None))
        .options(selectinload(Flag.rule), selectinload(Flag.lot), selectinload(Flag.readings))
        .order_by(Flag.opened_on.desc())).all()
    section = Section("flags", "Signalements nouveaux ou qui se dégradent",
                      more_url=url_for("steering.flags"), more_label="Tous les signalements",
                      empty="Aucun signalement nouveau ni en dégradation.")
    for f in flags:
        new = (today - f.opened_on).days <= NEW_FLAG_DAYS
        worsening = steering.trend(f) == "worsening"
        if not (new or worsening):
            continue
        what = "nouveau" if new else "se dégrade"
        section.items.append(Item(f"Lot {f.lot.code} — {f.rule.label} ({what})",
                                  url_for("steering.flag", flag_id=f.id),
                                  detail=f"Ouvert le {day(f.opened_on)}"))
    return section


def _campaigns_to_judge(today):
    from fc_market.controls.models import CampaignStatus, ControlCampaign, ControlItem, Verdict
    rows = db.session.execute(
        sa.select(ControlCampaign, sa.func.count(ControlItem.id))
        .join(ControlItem, ControlItem.campaign_id == ControlCampaign.id)
        .where(ControlCampaign.status == CampaignStatus.OPEN, ControlItem.verdict == Verdict.PENDING,
               sa.or_(ControlItem.answered_at.is_not(None), ControlCampaign.response_due_on < today))
        .group_by(ControlCampaign.id).order_by(ControlCampaign.response_due_on)
        .options(joinedload(ControlCampaign.lot))).all()
    section = Section("campaigns", "Contrôles : dossiers à juger", more_url=url_for("controls.index"),
                      more_label="Tous les contrôles", empty="Aucun dossier de contrôle à juger.")
    for campaign, count in rows:
        section.items.append(Item(
            f"Contrôle {campaign.reference} : {integer(count)} dossier{'s' if count > 1 else ''} à juger",
            url_for("controls.campaign", campaign_id=campaign.id),
            detail=f"Réponses attendues le {day(campaign.response_due_on)}"))
    return section


def _site_requests():
    from fc_market.territory.models import ChangeAction, ChangeStatus, SiteChange
    changes = db.session.scalars(
        sa.select(SiteChange).where(SiteChange.status == ChangeStatus.PENDING)
        .options(joinedload(SiteChange.lot)).order_by(SiteChange.created_at)).all()
    section = Section("sites", "Demandes sur les sites à décider", total=len(changes),
                      more_url=url_for("territory.pending"), more_label="Toutes les demandes",
                      empty="Aucune demande de site en attente.")
    for c in changes[:MAX_ITEMS]:
        name = (c.proposed or {}).get("name") or (c.previous or {}).get("name") or ""
        section.items.append(Item(
            f"Lot {c.lot.code} — {ChangeAction.LABELS.get(c.action, c.action)}"
            + (f" : {name}" if name else ""),
            url_for("territory.change", code=c.lot.code, change_id=c.id),
            detail=f"Demandée le {day(c.created_at)}"))
    return section


def _late_reports(today):
    from fc_market.market.models import Lot
    from fc_market.reporting import review
    section = Section("late", "Reportings en retard", more_url=url_for("reporting.review_list"),
                      more_label="File d'examen", empty="Aucun reporting en retard.")
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)
                              .options(selectinload(Lot.contract))).all()
    for lot in lots:
        for row in review.lot_periods(lot, today, newest_first=False):
            if row.first_submitted is None and row.due_on < today:
                section.items.append(Item(
                    f"Lot {lot.code} — reporting de {month(row.period)} non déposé",
                    url_for("reporting.period_page", code=lot.code, period=row.period),
                    due_on=row.due_on, late=True, detail=_due_text(row.due_on, today)))
    return section


def _uo4_to_review():
    from fc_market.uo4.models import Uo4Status, Uo4Version
    versions = db.session.scalars(
        sa.select(Uo4Version).where(Uo4Version.status == Uo4Status.SUBMITTED)
        .options(joinedload(Uo4Version.filing)).order_by(Uo4Version.submitted_at)).all()
    section = Section("uo4", "UO4 : plans et bilans déposés à examiner", more_url=url_for("uo4.overview"),
                      more_label="Suivi de l'UO4", empty="Aucun dépôt UO4 à examiner.")
    for v in versions:
        f = v.filing
        section.items.append(Item(
            f"Lot {f.lot.code} — {f.kind_label} UO4 {f.year}, version {v.number}",
            url_for("uo4.lot_page", code=f.lot.code), detail=f"Déposé le {day(v.submitted_at)}"))
    return section


def _cases_to_follow(today):
    from fc_market.cases.models import CASE_LABELS, CaseStatus, FlagCase
    from fc_market.steering.models import Flag
    waiting = (CaseStatus.NEW, CaseStatus.PLAN_SUBMITTED)
    cases = db.session.scalars(
        sa.select(FlagCase).where(sa.or_(
            FlagCase.status.in_([str(s) for s in waiting]),
            sa.and_(FlagCase.status == CaseStatus.PLAN_REQUESTED, FlagCase.plan_due_on < today)))
        .options(selectinload(FlagCase.flag).selectinload(Flag.rule), selectinload(FlagCase.lot))
        .order_by(FlagCase.opened_at)).all()
    section = Section("cases", "Dossiers de signalement à suivre", more_url=url_for("cases.index"),
                      more_label="Tous les dossiers", empty="Aucun dossier n'attend votre action.")
    for c in cases:
        if c.status == CaseStatus.PLAN_REQUESTED:
            detail = f"Plan d'action {_due_text(c.plan_due_on, today)}"
        else:
            detail = CASE_LABELS[c.status]
        section.items.append(Item(f"Lot {c.lot.code} — {c.flag.rule.label}",
                                  url_for("cases.case_page", case_id=c.id), detail=detail,
                                  late=c.status == CaseStatus.PLAN_REQUESTED))
    return section


# ----------------------------------------------------------------------------- finance

def finance_todo(user, today):
    invoices = _payable_invoices()
    return [s for s in (_statements_to_certify(today), _invoices_to_decide(),
                        _invoices_overdue(today, invoices), _interest_to_pay(today, invoices),
                        _figures_check(), _unread(user)) if s is not None]


def _payable_invoices():
    """The invoices the overdue and interest sections read, once for both: those that may
    still be owed or have been paid late (:func:`billing.maybe_owed`), the others being
    neither overdue nor owed interest."""
    from fc_market.billing import service as billing
    from fc_market.billing.models import Invoice
    _, late = billing.maybe_owed()
    return db.session.scalars(billing.payable_invoices_query().where(Invoice.id.in_(sorted(late)))
                              .options(selectinload(Invoice.interest_settlement))).all()


def _statements_to_certify(today):
    from fc_market.billing.models import PayableStatement, StatementStatus
    from fc_market.market.dates import period_of
    statements = db.session.scalars(
        sa.select(PayableStatement).where(PayableStatement.status == StatementStatus.OPEN,
                                          PayableStatement.period < period_of(today))
        .options(joinedload(PayableStatement.lot))
        .order_by(PayableStatement.period, PayableStatement.lot_id, PayableStatement.rank)).all()
    section = Section("certify", "États liquidatifs à certifier", total=len(statements),
                      empty="Aucun état provisoire à certifier.")
    for s in statements[:MAX_ITEMS]:
        section.items.append(Item(f"Lot {s.lot.code} — {s.title}, {month(s.period)} : "
                                  f"{money(s.amount_payable)}",
                                  url_for("billing.statement", statement_id=s.id)))
    return section


def _invoices_to_decide():
    from fc_market.billing.models import Invoice, InvoiceStatus
    invoices = db.session.scalars(
        sa.select(Invoice).where(Invoice.status == InvoiceStatus.RECEIVED)
        .options(joinedload(Invoice.lot)).order_by(Invoice.received_on)).all()
    section = Section("decide", "Factures à décider", total=len(invoices),
                      more_url=url_for("billing.invoices"), more_label="Toutes les factures",
                      empty="Aucune facture en attente de décision.")
    for inv in invoices[:MAX_ITEMS]:
        section.items.append(Item(f"Lot {inv.lot.code} — facture {inv.number} : {money(inv.amount_incl_tax)} TTC",
                                  url_for("billing.invoice", invoice_id=inv.id),
                                  detail=f"Reçue le {day(inv.received_on)}"))
    return section


def _invoices_overdue(today, invoices=None):
    from fc_market.billing import service as billing
    if invoices is None:
        invoices = _payable_invoices()
    section = Section("overdue", "Factures non payées après leur échéance",
                      more_url=url_for("billing.invoices"), more_label="Toutes les factures",
                      empty="Aucune facture en retard de paiement.")
    for inv in invoices:
        left = billing.outstanding(inv)
        if left <= 0:
            continue
        due = billing.due_on(inv, today)
        if due is None or due >= today:
            continue  # not due yet, or the term is interrupted until the documents arrive
        section.items.append(Item(f"Lot {inv.lot.code} — facture {inv.number} : reste {money(left)}",
                                  url_for("billing.invoice", invoice_id=inv.id), due_on=due, late=True,
                                  detail=f"Échue le {day(due)}, {integer((today - due).days)} jour(s) de retard"))
    return section


def interest_deadline(owed):
    """Day by which the interest and indemnity of an invoice paid in full are to be paid
    (R. 2192-36): 45 days after the last payment of the principal; None while unpaid."""
    if owed.unpaid or not owed.portions:
        return None
    return max(p.paid_on for p in owed.portions) + timedelta(days=INTEREST_PAYMENT_DAYS)


def _interest_to_pay(today, invoices=None):
    from fc_market.billing import service as billing
    section = Section("interest", "Intérêts moratoires et indemnités à payer",
                      more_url=url_for("billing.interest"), more_label="Intérêts moratoires",
                      empty="Aucun intérêt moratoire à payer.")
    for invoice, owed in billing.interest_owed(today, invoices=invoices):
        deadline = interest_deadline(owed)
        if deadline is None:
            continue  # the principal is still owed: the interest runs on
        section.items.append(Item(
            f"Lot {invoice.lot.code} — facture {invoice.number} : {money(owed.interest)} d'intérêts "
            f"+ {money(owed.flat_indemnity)} d'indemnité",
            url_for("billing.invoice", invoice_id=invoice.id), due_on=deadline, late=deadline < today,
            detail=_due_text(deadline, today, "à payer avant le") + " (45 jours après le paiement, R. 2192-36)"))
    section.items.sort(key=lambda i: i.due_on)
    return section


def _figures_check():
    """The last run of ``audit figures`` (once that command exists)."""
    model = _optional("fc_market.audit.models", "FiguresAudit")
    if model is None:
        return None
    last = db.session.scalar(sa.select(model).order_by(model.ran_at.desc(), model.id.desc()).limit(1))
    section = Section("figures", "Contrôle de cohérence des chiffres", empty="")
    if last is None:
        section.summary = "Le contrôle de cohérence n'a pas encore été exécuté."
    elif last.ok:
        section.summary = (f"Dernier contrôle le {day(last.ran_at)} : {integer(last.checked)} chiffres "
                           "comparés, aucun désaccord.")
    else:
        section.summary = (f"Dernier contrôle le {day(last.ran_at)} : {integer(last.disagreement_count)} "
                           f"désaccord(s) sur {integer(last.checked)} chiffres comparés.")
        section.items.append(Item("Désaccords à examiner", url_for("billing.dashboard"), late=True,
                                  detail="Détail sur le tableau de bord financier."))
    return section


# ----------------------------------------------------------------------- administrator

def admin_todo(user, today, now=None):
    from fc_market.models_base import utcnow
    now = now or utcnow()
    counts = dict(db.session.execute(sa.select(User.active, sa.func.count()).group_by(User.active)).all())
    accounts = Section("accounts", "Comptes", more_url=url_for("admin.users"),
                       more_label="Gérer les utilisateurs", empty="")
    accounts.summary = (f"{integer(counts.get(True, 0))} compte(s) actif(s), "
                        f"{integer(counts.get(False, 0))} désactivé(s).")
    sections = [accounts]
    sections.append(_invitations(now))
    locked = db.session.scalars(sa.select(User).where(User.locked_until > now)
                                .order_by(User.locked_until)).all()
    section = Section("locked", "Comptes verrouillés", empty="Aucun compte verrouillé.")
    for u in locked:
        section.items.append(Item(f"{u.full_name} ({u.email})", url_for("admin.user_edit", user_id=u.id),
                                  detail=f"Verrouillé jusqu'au {moment(u.locked_until)} (heure de Paris)"))
    sections.append(section)
    return sections


def _invitations(now):
    from fc_market.auth.models import AccountToken as model
    tokens = db.session.scalars(
        sa.select(model).where(model.used_at.is_(None), model.purpose == "invitation")
        .options(joinedload(model.user)).order_by(model.expires_at)).all()
    section = Section("invitations", "Invitations en attente", more_url=url_for("admin.users"),
                      more_label="Gérer les utilisateurs", empty="Aucune invitation en attente.")
    for t in tokens:
        expired = t.expires_at <= now
        section.items.append(Item(
            f"{t.user.full_name} ({t.user.email})", url_for("admin.users"), late=expired,
            detail=("lien expiré le " if expired else "lien valable jusqu'au ")
            + moment(t.expires_at)))
    return section


# ---------------------------------------------------------------------------- dispatch

TODO_BY_ROLE = {Role.MANDATAIRE: mandataire_todo, Role.MANAGER: manager_todo,
                Role.FINANCE: finance_todo, Role.ADMIN: admin_todo}


def todo_for(user, today):
    """The user's to-do sections."""
    return TODO_BY_ROLE[user.role](user, today)
