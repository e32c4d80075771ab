"""Flag cases: a steering flag becomes a case FC and the operator act on.

new → acknowledged (FC, with a comment) → plan requested from the operator (deadline) →
plan submitted by the mandataire (text and files) → followed → closed by FC (recovered, plan
carried out, accepted as is).  Moves follow ``CaseStatus.moves()`` only; each one is a
:class:`CaseEvent` (the case's thread and decisions), audited and notified.  FC's internal
comments (``internal``) are never shown to the mandataire.  Functions write in the caller's
session and never commit.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from fc_market.audit.service import record
from fc_market.cases.models import (CLOSE_LABELS, OPEN_STATUSES, CaseEvent, CaseFile, CaseStatus,
                                    CloseReason, FlagCase, case_move)
from fc_market.extensions import db
from fc_market.notifications.service import notify, notify_lot_manager
from fc_market.steering.indicators import Reading
from fc_market.steering.models import Flag
from fc_market.integrity import TransitionError

#: At most this many files with one action plan
MAX_FILES = 10


class CaseError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


CONFLICT = "Ce dossier vient d'être modifié par une autre personne : rechargez la page."


def case_of(flag):
    return db.session.scalar(sa.select(FlagCase).where(FlagCase.flag_id == flag.id))


def _event(case, user, kind, body=None, *, internal=False, move=None, due=None):
    event = CaseEvent(case_id=case.id, kind=kind, body=(body or "").strip() or None,
                      internal=internal, author_id=getattr(user, "id", None), plan_due_on=due,
                      from_status=move[0] if move else None, to_status=move[1] if move else None)
    db.session.add(event)
    db.session.flush()
    return event


def _move(case, new, expected_counter):
    if expected_counter is not None and case.version_counter != expected_counter:
        raise CaseError(CONFLICT)
    old = case.status
    try:
        case.status = case_move(case.status, new)
    except TransitionError as exc:
        raise CaseError(str(exc)) from exc
    return (old, str(new))


def _flush():
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise CaseError(CONFLICT) from exc


def _what(case):
    flag = case.flag
    return f"dossier n° {case.id} ({flag.lot.code} : {flag.rule.label})"


def open_case(flag, user, comment=None):
    """FC opens a case on a flag (one per flag)."""
    existing = case_of(flag)
    if existing is not None:
        return existing
    case = FlagCase(flag_id=flag.id, lot_id=flag.lot_id, status=CaseStatus.NEW,
                    opened_by_id=user.id)
    db.session.add(case)
    db.session.flush()
    _event(case, user, "opened", comment, internal=bool(comment), move=(None, CaseStatus.NEW))
    record("cases.open", case, summary=f"Ouverture du {_what(case)}", user=user)
    notify(kind="cases.opened", audience="mandataire", lot_id=case.lot_id,
           subject=f"Signalement suivi par France compétences : {flag.rule.label}",
           body=f"France compétences ouvre un dossier sur le signalement « {flag.rule.label} » "
                f"du lot {flag.lot.code}. Il apparaît dans « Mes plans d'action ».",
           link=f"/dossiers/{case.id}", dedup_key=f"cases.opened:{case.id}")
    return case


def acknowledge(case, user, comment, *, internal=True, expected_counter=None):
    comment = (comment or "").strip()
    if not comment:
        raise CaseError("Indiquez votre lecture du signalement (commentaire obligatoire).")
    move = _move(case, CaseStatus.ACKNOWLEDGED, expected_counter)
    _event(case, user, "acknowledged", comment, internal=internal, move=move)
    _flush()
    record("cases.acknowledge", case, summary=f"Prise en compte du {_what(case)}", user=user,
           changes={"status": list(move), "internal": internal})
    return case


def request_plan(case, user, body, due_on, today, *, expected_counter=None):
    body = (body or "").strip()
    if not body:
        raise CaseError("Dites à l'opérateur ce que le plan d'action doit traiter.")
    if due_on is None or due_on <= today:
        raise CaseError("L'échéance du plan d'action doit être postérieure à aujourd'hui.")
    move = _move(case, CaseStatus.PLAN_REQUESTED, expected_counter)
    case.plan_due_on = due_on
    _event(case, user, "plan_requested", body, move=move, due=due_on)
    _flush()
    record("cases.request_plan", case, summary=f"Plan d'action demandé pour le {due_on:%d/%m/%Y} "
           f"({_what(case)})", user=user, changes={"status": list(move), "due_on": due_on})
    notify(kind="cases.plan_requested", audience="mandataire", lot_id=case.lot_id,
           subject=f"Plan d'action demandé avant le {due_on:%d/%m/%Y}",
           body=f"France compétences vous demande un plan d'action sur « {case.flag.rule.label} » "
                f"avant le {due_on:%d/%m/%Y} :\n{body}",
           link=f"/dossiers/{case.id}")
    return case


def submit_plan(case, user, body, files=(), *, expected_counter=None):
    """The mandataire submits its action plan: text and files (PDF or images)."""
    from fc_market.storage import FileRefused, store
    body = (body or "").strip()
    if not body:
        raise CaseError("Décrivez le plan d'action (actions, responsables, échéances).")
    files = [(data, name) for data, name in files if data]
    if len(files) > MAX_FILES:
        raise CaseError(f"{MAX_FILES} fichiers au plus.")
    if case.status != CaseStatus.PLAN_REQUESTED:
        raise CaseError("France compétences n'attend pas de plan d'action sur ce dossier.")
    from fc_market.storage import check
    problems = []
    for data, name in files:
        try:
            check(data)
        except FileRefused as exc:
            problems.append(f"« {name} » : {exc}")
    if problems:
        raise CaseError("Fichier(s) refusé(s), rien n'a été enregistré : " + " ; ".join(problems))
    stored = []
    for data, name in files:
        try:
            stored.append((store(data, name), len(data)))
        except FileRefused as exc:
            raise CaseError(f"Fichier « {name} » refusé, rien n'a été enregistré : {exc}") from exc
    move = _move(case, CaseStatus.PLAN_SUBMITTED, expected_counter)
    event = _event(case, user, "plan_submitted", body, move=move)
    for (key, mimetype, digest, name), size in stored:
        db.session.add(CaseFile(event_id=event.id, storage_key=key, mimetype=mimetype,
                                sha256=digest, name=name, size=size))
    _flush()
    record("cases.submit_plan", case, summary=f"Plan d'action remis ({len(stored)} fichier(s), "
           f"{_what(case)})", user=user, changes={"status": list(move)})
    notify_lot_manager(case.lot, kind="cases.plan_submitted",
                       subject=f"Lot {case.lot.code} : plan d'action remis",
                       body=f"Le mandataire du lot {case.lot.code} a remis son plan d'action sur "
                            f"« {case.flag.rule.label} ».", link=f"/dossiers/{case.id}")
    return case


def follow(case, user, comment, *, expected_counter=None):
    move = _move(case, CaseStatus.FOLLOWED, expected_counter)
    _event(case, user, "followed", comment, move=move)
    _flush()
    record("cases.follow", case, summary=f"Plan d'action retenu et suivi ({_what(case)})",
           user=user, changes={"status": list(move)})
    notify(kind="cases.followed", audience="mandataire", lot_id=case.lot_id,
           subject="Plan d'action retenu", link=f"/dossiers/{case.id}",
           body=f"France compétences retient votre plan d'action sur « {case.flag.rule.label} » "
                "et en suivra la réalisation." + (f"\n{comment.strip()}" if comment and comment.strip() else ""))
    return case


def close(case, user, reason, comment, *, expected_counter=None):
    if reason not in {r.value for r in CloseReason}:
        raise CaseError("Choisissez le motif de clôture.")
    move = _move(case, CaseStatus.CLOSED, expected_counter)
    case.close_reason = reason
    case.closed_at = _now()
    _event(case, user, "closed", f"{CLOSE_LABELS[reason]}." + (f" {comment.strip()}" if comment and comment.strip() else ""),
           move=move)
    _flush()
    record("cases.close", case, summary=f"Clôture du {_what(case)} : {CLOSE_LABELS[reason]}",
           user=user, changes={"status": list(move), "reason": reason})
    notify(kind="cases.closed", audience="mandataire", lot_id=case.lot_id,
           subject=f"Dossier clos : {CLOSE_LABELS[reason]}", link=f"/dossiers/{case.id}",
           body=f"France compétences clôt le dossier « {case.flag.rule.label} » : "
                f"{CLOSE_LABELS[reason]}.")
    return case


def _now():
    from fc_market.models_base import utcnow
    return utcnow()


def comment(case, user, body, *, internal=False):
    """A message in the thread; FC may keep it internal, a mandataire's never is."""
    body = (body or "").strip()
    if not body:
        raise CaseError("Le message est vide.")
    if not case.is_open:
        raise CaseError("Ce dossier est clos : il ne reçoit plus de message.")
    if user.is_mandataire:
        internal = False
    event = _event(case, user, "note" if internal else "message", body, internal=internal)
    record("cases.comment", case, summary=f"{'Note interne' if internal else 'Message'} sur le "
           f"{_what(case)}", user=user)
    if not internal:
        if user.is_mandataire:
            notify_lot_manager(case.lot, kind="cases.message", link=f"/dossiers/{case.id}",
                               subject=f"Lot {case.lot.code} : message sur un dossier",
                               body=body[:1000])
        else:
            notify(kind="cases.message", audience="mandataire", lot_id=case.lot_id,
                   subject="Message de France compétences sur un dossier",
                   body=body[:1000], link=f"/dossiers/{case.id}")
    return event


def visible_events(case, user):
    """The case's thread as ``user`` may read it: no internal FC comment for a mandataire."""
    return [e for e in case.events if not (e.internal and user.is_mandataire)]


def cases_query(lot_ids=None, statuses=None):
    stmt = (sa.select(FlagCase).options(selectinload(FlagCase.flag).selectinload(Flag.rule),
                                        selectinload(FlagCase.lot))
            .order_by(FlagCase.status == CaseStatus.CLOSED, FlagCase.opened_at.desc(),
                      FlagCase.id.desc()))
    if lot_ids is not None:
        stmt = stmt.where(FlagCase.lot_id.in_(lot_ids))
    if statuses:
        stmt = stmt.where(FlagCase.status.in_(list(statuses)))
    return stmt


def open_cases(lot_ids):
    return db.session.scalars(cases_query(lot_ids, OPEN_STATUSES)).all()


def by_flag(flag_ids):
    if not flag_ids:
        return {}
    return {c.flag_id: c for c in db.session.scalars(
        sa.select(FlagCase).where(FlagCase.flag_id.in_(list(flag_ids))))}


def overdue(today):
    return db.session.scalars(cases_query(statuses=[CaseStatus.PLAN_REQUESTED])
                              .where(FlagCase.plan_due_on < today)).all()


def notify_overdue(today):
    """The ``cases.overdue`` job: each action plan past its deadline is notified once, to
    the lot's FC manager and to the mandataire (its flag comes from the steering rule
    ``case_plan_days_late``)."""
    count = 0
    for case in overdue(today):
        key = f"cases.overdue:{case.id}:{case.plan_due_on.isoformat()}"
        days = case.days_overdue(today)
        made = notify_lot_manager(case.lot, kind="cases.overdue",
                                  subject=f"Lot {case.lot.code} : plan d'action en retard",
                                  body=f"Le plan d'action demandé au lot {case.lot.code} sur "
                                       f"« {case.flag.rule.label} » était attendu le "
                                       f"{case.plan_due_on:%d/%m/%Y} ({days} jour(s) de retard).",
                                  link=f"/dossiers/{case.id}", dedup_key=key)
        notify(kind="cases.overdue", audience="mandataire", lot_id=case.lot_id,
               subject="Plan d'action en retard",
               body=f"Votre plan d'action sur « {case.flag.rule.label} » était attendu le "
                    f"{case.plan_due_on:%d/%m/%Y}.", link=f"/dossiers/{case.id}",
               dedup_key=key + ":m")
        if made is not None:
            record("cases.overdue", case, summary=f"Plan d'action en retard de {days} jour(s) "
                   f"({_what(case)})", actor="système")
            count += 1
    return count


def plan_lateness(lots, today):
    """``case_plan_days_late``: the most days an action plan asked of the lot is overdue."""
    worst = {}
    for case in db.session.scalars(cases_query([l.id for l in lots], [CaseStatus.PLAN_REQUESTED])):
        days = case.days_overdue(today)
        if days >= worst.get(case.lot_id, (-1, None))[0]:
            worst[case.lot_id] = (days, case)
    out = {lot.id: Reading(0.0, None, "aucun plan d'action en retard") for lot in lots}
    for lot_id, (days, case) in worst.items():
        if days:
            out[lot_id] = Reading(float(days), None, f"plan d'action du dossier n° {case.id} "
                                  f"attendu le {case.plan_due_on:%d/%m/%Y}")
    return out


def register():
    from fc_market.steering.indicators import INDICATORS, Indicator
    from fc_market.steering.service import READING_PROVIDERS
    INDICATORS.setdefault("case_plan_days_late", Indicator(
        "case_plan_days_late", "Retard d'un plan d'action demandé (jours)", "days", "lower",
        "Jours de retard du plan d'action le plus en retard parmi ceux que France compétences a "
        "demandés au lot.", short="Plan d'action en retard"))
    READING_PROVIDERS["case_plan_days_late"] = plan_lateness


register()

__all__ = ["CaseError", "date"]
