"""UO4 plans and statements of use: filings, drafts, checks, submission, review, thread.

The lines of a version (web form or Excel file) are checked all at once before anything is
written: every error comes back with its sheet, row, column and a French message, and a
refused input changes nothing.  Versions move through ``Uo4Status.moves()`` only; a submitted
version is never edited again: a correction is a new version that starts from the last
decided one.  Functions write in the caller's session and never commit (one unit of work
per request, CLI command or job).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from fc_market.audit.service import record
from fc_market.extensions import db
from fc_market.market.models import Lot, OperatorMember
from fc_market.models_base import utcnow
from fc_market.notifications.service import notify, notify_lot_manager
from fc_market.reporting.checks import Issue, sort_issues
from fc_market.reporting.dictionary import SEPARATOR, fold
from fc_market.reporting.service import paris_today
from fc_market.uo4.models import (KIND_LABELS, UNDER_REVIEW, FilingKind, Uo4Document, Uo4Filing,
                                  Uo4Line, Uo4Message, Uo4Status, Uo4Version, uo4_move)
from fc_market.uo4.terms import uo4_terms

CENT = Decimal("0.01")
#: A line's amount cannot reach this (the money column holds 14 digits, 2 after the point)
MAX_AMOUNT = Decimal("1000000000000")
LINE_FIELDS = (("category", "Catégorie"), ("member", "Membre du groupement"),
               ("amount", "Montant (€)"), ("description", "Description"))
LINE_HEADERS = dict(LINE_FIELDS)


class Uo4Error(Exception):
    """A refused action, with a French message for the user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Conflict(Uo4Error):
    """Someone else acted first (optimistic lock)."""


CONFLICT = ("Cette version vient d'être traitée par une autre personne : votre décision n'a "
            "pas été enregistrée. Rechargez la page.")


class Issues:
    """Every problem of an input, collected before anything is written (same signature as
    the reporting checker, so :func:`fc_market.reporting.workbook.workbook_issue` fits)."""

    def __init__(self, sheet=None):
        self.sheet = sheet
        self.items = []

    def add(self, severity, code, message, row=None, column=None, field_name=None, sheet=None):
        sheet = self.sheet if sheet is None else (sheet or None)
        self.items.append(Issue(severity, code, message, sheet, row if row and row > 0 else None,
                                column, LINE_HEADERS.get(field_name, field_name)))

    def error(self, code, message, row=None, column=None, field_name=None, sheet=None):
        self.add("error", code, message, row, column, field_name, sheet)

    def warning(self, code, message, row=None, column=None, field_name=None, sheet=None):
        self.add("warning", code, message, row, column, field_name, sheet)

    @property
    def errors(self):
        return sort_issues([i for i in self.items if i.severity == "error"])

    @property
    def warnings(self):
        return sort_issues([i for i in self.items if i.severity == "warning"])

    @property
    def error_count(self):
        return sum(1 for i in self.items if i.severity == "error")


@dataclass
class Result:
    accepted: bool
    lot_code: str
    year: int
    kind: str
    errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    version: Uo4Version | None = None

    def as_json(self):
        v = self.version
        return {"accepted": self.accepted, "lot": self.lot_code, "year": self.year,
                "kind": self.kind, "version": v.number if v else None,
                "status": v.status if v else None, "total": str(v.total) if v else None,
                "lines": len(v.lines) if v else 0,
                "errors": [i.as_dict() for i in self.errors],
                "warnings": [i.as_dict() for i in self.warnings]}


# -- filings -----------------------------------------------------------------------------

def terms_of(lot, day=None):
    terms = uo4_terms(lot, day)
    if terms is None:
        raise Uo4Error("Le fichier de marché ne définit pas de section [uo4] : pas de suivi de "
                       "l'UO4 pour ce marché.")
    return terms


def contract_years(lot):
    contract = lot.contract
    if contract is None:
        return []
    return list(range(contract.start_date.year, contract.end_date.year + 1))


def check_year(lot, year):
    if year not in contract_years(lot):
        years = contract_years(lot)
        span = f" ({years[0]}–{years[-1]})" if years else ""
        raise Uo4Error(f"L'année {year} est hors du contrat du lot {lot.code}{span}.")


def find_filing(lot, year, kind):
    return db.session.scalar(sa.select(Uo4Filing).where(
        Uo4Filing.lot_id == lot.id, Uo4Filing.year == year, Uo4Filing.kind == kind))


def get_or_create_filing(lot, year, kind):
    kind = FilingKind(kind)
    check_year(lot, year)
    filing = find_filing(lot, year, kind)
    if filing is None:
        filing = Uo4Filing(lot_id=lot.id, year=year, kind=kind,
                           due_on=terms_of(lot).due_on(kind, year))
        db.session.add(filing)
        db.session.flush()
    return filing


def members_of(lot):
    operator = lot.operator
    return list(operator.members) if operator is not None else []


def versions_of(filing):
    return db.session.scalars(sa.select(Uo4Version).where(Uo4Version.filing_id == filing.id)
                              .order_by(Uo4Version.number)).all()


def _with_status(filing, *statuses):
    return db.session.scalars(sa.select(Uo4Version).where(
        Uo4Version.filing_id == filing.id, Uo4Version.status.in_(list(statuses)))
        .order_by(Uo4Version.number.desc())).first()


def current_draft(filing):
    return _with_status(filing, Uo4Status.DRAFT)


def under_review(filing):
    return _with_status(filing, *UNDER_REVIEW)


def in_force(filing):
    """The version that counts: accepted, else the one under review (None otherwise)."""
    if filing is None:
        return None
    return _with_status(filing, Uo4Status.ACCEPTED) or under_review(filing)


def open_draft(filing, user, source="web"):
    """The filing's draft, created if needed (from the last decided version's lines)."""
    draft = current_draft(filing)
    if draft is not None:
        return draft
    if under_review(filing) is not None:
        raise Uo4Error("Une version est en cours d'examen par France compétences : attendez sa "
                       "décision avant d'en déposer une autre.")
    number = (db.session.scalar(sa.select(sa.func.max(Uo4Version.number))
                                .where(Uo4Version.filing_id == filing.id)) or 0) + 1
    draft = Uo4Version(filing_id=filing.id, lot_id=filing.lot_id, number=number,
                       status=Uo4Status.DRAFT, source=source,
                       created_by_id=getattr(user, "id", None))
    db.session.add(draft)
    db.session.flush()
    previous = _with_status(filing, Uo4Status.ACCEPTED, Uo4Status.REJECTED)
    if previous is not None:
        for line in previous.lines:
            draft.lines.append(Uo4Line(position=line.position, category=line.category,
                                       member_id=line.member_id, amount=line.amount,
                                       description=line.description, source_row=line.source_row))
        for doc in previous.documents:
            draft.documents.append(Uo4Document(
                category=doc.category, storage_key=doc.storage_key, mimetype=doc.mimetype,
                sha256=doc.sha256, name=doc.name, size=doc.size, uploaded_by_id=doc.uploaded_by_id))
        draft.total = previous.total
    lot = db.session.get(Lot, filing.lot_id)
    record("uo4.draft", draft, summary=f"{filing.kind_label} UO4 {lot.code} {filing.year} : "
           f"version {number} ouverte" + (f" (à partir de la version {previous.number})"
                                          if previous else ""), user=user)
    db.session.flush()
    return draft


def _draft_of(version):
    if version.status != Uo4Status.DRAFT:
        raise Uo4Error(f"La version {version.number} est « {version.status_label} » : elle "
                       "n'est plus modifiable. Ouvrez une nouvelle version.")
    return version


# -- checks ------------------------------------------------------------------------------

def _amount(value):
    """Decimal euros from a cell or a form field, or None when not a valid amount."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    text = str(value).strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    text = text.replace("€", "").replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def _match(value, table):
    """``table``: folded key -> code; accepts the code, the label or ``code — label``."""
    text = str(value).strip()
    if SEPARATOR.strip() in text:
        text = text.split(SEPARATOR.strip(), 1)[0]
    return table.get(fold(text))


def check_lines(rows, terms, members, issues, kind):
    """``rows``: [(row number, {field: raw value}, {field: column letter})].  Returns the
    valid lines as dicts; every problem goes to ``issues``."""
    categories = {}
    for code, label in terms.categories:
        categories[fold(code)] = code
        categories[fold(label)] = code
    by_member = {}
    for m in members:
        by_member[fold(m.siret)] = m.id
        by_member[fold(m.legal_name)] = m.id
    lines, seen = [], {}
    if not members:
        issues.error("no_members", "Aucun membre du groupement n'est enregistré pour ce lot : "
                     "France compétences doit d'abord les saisir (fiche du lot).", sheet="")
        return []
    for number, values, letters in rows:
        col = letters.get
        before = issues.error_count
        raw_cat, raw_member = values.get("category"), values.get("member")
        raw_amount, description = values.get("amount"), values.get("description")
        category = member_id = amount = None
        if raw_cat in (None, ""):
            issues.error("category_missing", "Catégorie obligatoire.", number, col("category"),
                         "category")
        else:
            category = _match(raw_cat, categories)
            if category is None:
                issues.error("category_unknown", f"Catégorie « {str(raw_cat)[:60]} » inconnue : "
                             "choisissez une catégorie du contrat (liste déroulante).", number,
                             col("category"), "category")
        if raw_member in (None, ""):
            issues.error("member_missing", "Membre du groupement obligatoire (SIRET).", number,
                         col("member"), "member")
        else:
            member_id = _match(raw_member, by_member)
            if member_id is None:
                issues.error("member_unknown", f"« {str(raw_member)[:60]} » n'est pas un membre du "
                             "groupement du lot (SIRET ou raison sociale).", number,
                             col("member"), "member")
        if raw_amount in (None, ""):
            issues.error("amount_missing", "Montant obligatoire (0 si rien n'est prévu).", number,
                         col("amount"), "amount")
        else:
            amount = _amount(raw_amount)
            if amount is None:
                issues.error("amount_invalid", f"Montant « {str(raw_amount)[:30]} » illisible : un "
                             "nombre en euros est attendu, ex. 12500,00.", number, col("amount"),
                             "amount")
            elif amount < 0:
                issues.error("amount_negative", "Le montant ne peut pas être négatif.", number,
                             col("amount"), "amount")
            elif amount != amount.quantize(CENT):
                issues.error("amount_cents", "Pas plus de deux décimales (centimes).", number,
                             col("amount"), "amount")
            elif amount >= MAX_AMOUNT:
                issues.error("amount_too_large", "Montant hors limites.", number, col("amount"),
                             "amount")
        if description not in (None, "") and len(str(description)) > 500:
            issues.error("description_long", "Description trop longue (500 caractères au plus).",
                         number, col("description"), "description")
        if category and member_id:
            key = (category, member_id)
            if key in seen:
                issues.error("duplicate", f"Même catégorie et même membre qu'à la ligne "
                             f"{seen[key]} : une seule ligne par catégorie et par membre.", number,
                             col("category"), "category")
            else:
                seen[key] = number
        if issues.error_count == before:
            lines.append({"category": category, "member_id": member_id,
                          "amount": amount.quantize(CENT),
                          "description": (str(description).strip()[:500] or None)
                          if description not in (None, "") else None,
                          "source_row": number if number and number > 0 else None})
    if not rows:
        issues.error("empty", f"Aucune ligne : le {KIND_LABELS[FilingKind(kind)].lower()} doit "
                     "compter au moins une ligne (catégorie, membre, montant).")
    return lines


def _replace_lines(draft, lines, source):
    draft.lines.clear()
    db.session.flush()
    for position, line in enumerate(lines, start=1):
        draft.lines.append(Uo4Line(position=position, **line))
    draft.total = sum((line["amount"] for line in lines), Decimal("0"))
    draft.source = source
    db.session.flush()


def save_lines(filing, rows, user, *, source="web", sheet=None, file_name=None, data=None):
    """Check ``rows`` and, only when there is no error, write them into the filing's draft.
    Returns ``(draft or None, Issues)``."""
    lot = db.session.get(Lot, filing.lot_id)
    terms = terms_of(lot)
    issues = Issues(sheet)
    lines = check_lines(rows, terms, members_of(lot), issues, filing.kind)
    if issues.error_count:
        return None, issues
    draft = open_draft(filing, user, source)
    _replace_lines(draft, lines, source)
    draft.file_name = (file_name or "")[:255] or None
    draft.file_sha256 = hashlib.sha256(data).hexdigest() if data else None
    record("uo4.lines", draft, summary=f"{filing.kind_label} UO4 {lot.code} {filing.year} : "
           f"{len(lines)} ligne(s) enregistrée(s) ({'fichier Excel' if source == 'excel' else 'formulaire web'}, "
           f"version {draft.number})", user=user,
           changes={"lines": len(lines), "total": draft.total, "file": file_name})
    return draft, issues


def import_file(lot, year, kind, data, *, user, file_name=None, submit=False, today=None):
    """Check a filled-in template and load it into the draft: all or nothing."""
    from fc_market.uo4.workbook import read_workbook
    result = Result(False, lot.code, year, kind)
    try:
        filing = get_or_create_filing(lot, year, kind)
    except (Uo4Error, ValueError) as exc:
        issues = Issues()
        issues.error("year", getattr(exc, "message", str(exc)), sheet="")
        result.errors = issues.errors
        return result
    issues = Issues()
    rows, sheet = read_workbook(data, issues, lot, year, filing.kind)
    if issues.error_count:
        result.errors, result.warnings = issues.errors, issues.warnings
        return result
    try:
        with db.session.begin_nested():
            draft, line_issues = save_lines(filing, rows, user, source="excel", sheet=sheet,
                                            file_name=file_name, data=data)
            issues.items += line_issues.items
            if draft is not None and submit:
                submit_issues = submission_issues(draft)
                issues.items += submit_issues.items
                if not submit_issues.error_count:
                    _submit(draft, user, today or paris_today())
            if issues.error_count:
                raise _Refused()
    except _Refused:
        draft = None
    except Uo4Error as exc:
        issues.error("refused", exc.message, sheet="")
        draft = None
    result.errors, result.warnings = issues.errors, issues.warnings
    result.accepted = not issues.error_count
    result.version = draft
    return result


class _Refused(Exception):
    """Rolls the savepoint of a refused import back."""


# -- documents ---------------------------------------------------------------------------

def add_document(version, category, data, filename, user):
    """Store a supporting document (PDF or image, checked on its content) on a draft."""
    from fc_market.storage import FileRefused, store
    _draft_of(version)
    lot = db.session.get(Lot, version.lot_id)
    if category not in terms_of(lot).labels:
        raise Uo4Error("Choisissez la catégorie de dépenses que ce justificatif documente.")
    try:
        key, mimetype, digest, name = store(data, filename)
    except FileRefused as exc:
        raise Uo4Error(f"« {filename} » refusé : {exc}") from exc
    doc = Uo4Document(category=category, storage_key=key, mimetype=mimetype, sha256=digest,
                      name=name, size=len(data), uploaded_by_id=getattr(user, "id", None))
    version.documents.append(doc)
    db.session.flush()
    record("uo4.document", version, summary=f"Justificatif « {name} » joint (version "
           f"{version.number}, {terms_of(lot).labels[category]})", user=user,
           changes={"sha256": digest, "size": len(data)})
    return doc


def remove_document(version, doc, user):
    _draft_of(version)
    if doc.version_id != version.id:
        raise Uo4Error("Ce justificatif n'appartient pas à cette version.")
    name = doc.name
    version.documents.remove(doc)
    db.session.flush()
    record("uo4.document_delete", version, summary=f"Justificatif « {name} » retiré (version "
           f"{version.number})", user=user)


# -- submission --------------------------------------------------------------------------

def submission_issues(version):
    """What blocks the submission: no line; for a statement, a category with spending and
    no supporting document."""
    issues = Issues()
    filing = version.filing
    if not version.lines:
        issues.error("empty", "Aucune ligne : complétez le formulaire ou déposez le modèle Excel.")
    if filing.kind == FilingKind.STATEMENT:
        lot = db.session.get(Lot, version.lot_id)
        labels = terms_of(lot).labels
        spent = sorted({line.category for line in version.lines if line.amount > 0},
                       key=list(labels).index)
        documented = {doc.category for doc in version.documents}
        for code in spent:
            if code not in documented:
                issues.error("documents_missing", f"« {labels[code]} » : des dépenses sont "
                             "déclarées sans justificatif (facture, état de paie, contrat) : "
                             "joignez-en au moins un.", field_name=labels[code])
    return issues


def submit(version, user, today=None):
    _draft_of(version)
    issues = submission_issues(version)
    if issues.error_count:
        return issues
    _submit(version, user, today or paris_today())
    return issues


def _submit(version, user, today):
    filing = version.filing
    lot = db.session.get(Lot, version.lot_id)
    version.status = uo4_move(version.status, Uo4Status.SUBMITTED)
    version.submitted_at = utcnow()
    version.submitted_by_id = getattr(user, "id", None)
    version.days_late = max(0, (today - filing.due_on).days)
    for old in db.session.scalars(sa.select(Uo4Version).where(
            Uo4Version.filing_id == filing.id, Uo4Version.status == Uo4Status.REJECTED)):
        old.status = uo4_move(old.status, Uo4Status.SUPERSEDED)
    db.session.flush()
    late = f", {version.days_late} jour(s) après l'échéance" if version.days_late else ""
    record("uo4.submit", version, summary=f"{filing.kind_label} UO4 {lot.code} {filing.year} "
           f"déposé (version {version.number}, {_eur(version.total)}{late})", user=user,
           changes={"total": version.total, "days_late": version.days_late})
    notify_lot_manager(lot, kind="uo4.submitted",
                       subject=f"{filing.kind_label} UO4 {lot.code} {filing.year} déposé",
                       body=f"Le mandataire du lot {lot.code} a déposé la version {version.number} "
                            f"du {filing.kind_label.lower()} UO4 {filing.year} ({_eur(version.total)}"
                            f"{late}). Il attend votre examen.",
                       link=f"/uo4/versions/{version.id}", dedup_key=f"uo4.submitted:{version.id}")
    return version


def _eur(amount):
    from fc_market.formatting import money
    return money(amount)


# -- review ------------------------------------------------------------------------------

DECISIONS = {"accept": (Uo4Status.ACCEPTED, "accepté"), "reject": (Uo4Status.REJECTED, "rejeté"),
             "question": (Uo4Status.QUESTIONED, "mis en questions")}


def decide(version, user, decision, comment, expected_counter=None):
    """FC accepts, rejects (with a reason) or asks questions (the thread) on a version."""
    if decision not in DECISIONS:
        raise Uo4Error("Décision inconnue.")
    if expected_counter is not None and version.version_counter != expected_counter:
        raise Conflict(CONFLICT)
    if version.status not in UNDER_REVIEW:
        raise Conflict(f"La version {version.number} n'est pas en attente d'examen "
                       f"(« {version.status_label} »).")
    comment = (comment or "").strip() or None
    if decision in ("reject", "question") and not comment:
        raise Uo4Error("Un rejet doit être motivé." if decision == "reject" else
                       "Écrivez la ou les questions posées au mandataire.")
    new, label = DECISIONS[decision]
    filing = version.filing
    lot = db.session.get(Lot, version.lot_id)
    old = version.status
    try:
        version.status = uo4_move(version.status, new)
        if decision == "question":
            version.messages.append(Uo4Message(kind="question", body=comment, author_id=user.id))
        else:
            version.decided_at = utcnow()
            version.decided_by_id = user.id
            version.decision_comment = comment
        db.session.flush()
        if decision == "accept":
            for previous in db.session.scalars(sa.select(Uo4Version).where(
                    Uo4Version.filing_id == filing.id, Uo4Version.id != version.id,
                    Uo4Version.status == Uo4Status.ACCEPTED)):
                previous.status = uo4_move(previous.status, Uo4Status.SUPERSEDED)
            db.session.flush()
    except StaleDataError as exc:
        raise Conflict(CONFLICT) from exc
    what = f"{filing.kind_label} UO4 {lot.code} {filing.year} version {version.number}"
    record(f"uo4.{decision}", version, summary=f"{what} {label}" + (f" : {comment}" if comment else ""),
           user=user, changes={"status": [old, str(new)], "comment": comment})
    notify(kind=f"uo4.{decision}", audience="mandataire", lot_id=lot.id,
           subject=f"{what} : {label}",
           body=(f"France compétences a {label} la version {version.number} de votre "
                 f"{filing.kind_label.lower()} UO4 {filing.year}." if decision != "question" else
                 f"France compétences pose des questions sur la version {version.number} de votre "
                 f"{filing.kind_label.lower()} UO4 {filing.year} : répondez-y depuis la page de la "
                 "version.") + (f"\n{comment}" if comment else ""),
           link=f"/uo4/versions/{version.id}",
           dedup_key=None if decision == "question" else f"uo4.decision:{version.id}")
    return version


def answer(version, user, body):
    """The mandataire answers FC's questions: the version goes back under review."""
    body = (body or "").strip()
    if not body:
        raise Uo4Error("Écrivez votre réponse.")
    if version.status != Uo4Status.QUESTIONED:
        raise Uo4Error("France compétences n'attend pas de réponse sur cette version.")
    filing = version.filing
    lot = db.session.get(Lot, version.lot_id)
    try:
        version.status = uo4_move(version.status, Uo4Status.SUBMITTED)
        version.messages.append(Uo4Message(kind="answer", body=body, author_id=user.id))
        db.session.flush()
    except StaleDataError as exc:
        raise Conflict(CONFLICT) from exc
    record("uo4.answer", version, summary=f"Réponse du mandataire sur le {filing.kind_label.lower()} "
           f"UO4 {lot.code} {filing.year} (version {version.number})", user=user)
    notify_lot_manager(lot, kind="uo4.answered",
                       subject=f"Réponse du lot {lot.code} : {filing.kind_label} UO4 {filing.year}",
                       body=f"Le mandataire du lot {lot.code} a répondu à vos questions : {body[:500]}",
                       link=f"/uo4/versions/{version.id}")
    return version


# -- steering reads ----------------------------------------------------------------------

def paid_by_year(lot_ids, years=None):
    """{(lot_id, year): UO4 paid} from the certified payable statements' lump-sum lines
    (adjusting statements carry differences, so the sum is what stands certified)."""
    from fc_market.billing.models import PayableStatement, PayableStatementLine, StatementStatus
    if not lot_ids:
        return {}
    year = sa.func.substr(PayableStatement.period, 1, 4)
    stmt = (sa.select(PayableStatement.lot_id, year, sa.func.sum(PayableStatementLine.amount))
            .join(PayableStatementLine, PayableStatementLine.statement_id == PayableStatement.id)
            .where(PayableStatement.lot_id.in_(lot_ids),
                   PayableStatement.status == StatementStatus.CERTIFIED,
                   PayableStatementLine.kind == "lump_sum")
            .group_by(PayableStatement.lot_id, year))
    out = {}
    for lot_id, y, amount in db.session.execute(stmt):
        if years is None or int(y) in years:
            out[(lot_id, int(y))] = Decimal(amount or 0).quantize(CENT)
    return out


def in_force_lines(lot_ids, kind, years=None):
    """{(lot_id, year): version in force} with its lines loaded, for plans or statements
    (of *years* only, when given)."""
    stmt = (sa.select(Uo4Version, Uo4Filing.year).join(Uo4Filing, Uo4Filing.id == Uo4Version.filing_id)
            .where(Uo4Filing.lot_id.in_(lot_ids), Uo4Filing.kind == kind,
                   Uo4Version.status.in_([Uo4Status.ACCEPTED, *UNDER_REVIEW]))
            .options(selectinload(Uo4Version.lines)).order_by(Uo4Version.number))
    if years is not None:
        stmt = stmt.where(Uo4Filing.year.in_(sorted(set(years))))
    out = {}
    for version, year in db.session.execute(stmt):
        key = (version.lot_id, year)
        current = out.get(key)
        # accepted wins over under review; among equals the latest number
        if current is None or version.status == Uo4Status.ACCEPTED or current.status != Uo4Status.ACCEPTED:
            out[key] = version
    return out


@dataclass
class YearSummary:
    lot: object
    year: int
    paid: Decimal
    plan: Uo4Version | None
    statement: Uo4Version | None
    plan_due: date | None
    statement_due: date | None
    #: [(code, label, planned, documented)]
    categories: list

    @property
    def planned(self):
        return self.plan.total if self.plan else Decimal("0")

    @property
    def documented(self):
        return self.statement.total if self.statement else Decimal("0")

    @property
    def documented_share(self):
        return float(self.documented / self.paid) if self.paid else None


def summaries(lots, years):
    """{(lot_id, year): YearSummary} in five queries."""
    lot_ids = [l.id for l in lots]
    paid = paid_by_year(lot_ids, set(years))
    # the versions of the years shown only: a year's version in force does not depend on
    # another year's
    plans = in_force_lines(lot_ids, FilingKind.PLAN, years)
    statements = in_force_lines(lot_ids, FilingKind.STATEMENT, years)
    out = {}
    for lot in lots:
        terms = uo4_terms(lot)
        if terms is None:
            continue
        for year in years:
            plan, statement = plans.get((lot.id, year)), statements.get((lot.id, year))
            planned, documented = {}, {}
            for version, target in ((plan, planned), (statement, documented)):
                for line in (version.lines if version else []):
                    target[line.category] = target.get(line.category, Decimal("0")) + line.amount
            cats = [(code, label, planned.get(code, Decimal("0")), documented.get(code, Decimal("0")))
                    for code, label in terms.categories]
            out[(lot.id, year)] = YearSummary(lot, year, paid.get((lot.id, year), Decimal("0")),
                                              plan, statement,
                                              terms.due_on(FilingKind.PLAN, year),
                                              terms.due_on(FilingKind.STATEMENT, year), cats)
    return out


def filings_of(lot):
    return db.session.scalars(sa.select(Uo4Filing).where(Uo4Filing.lot_id == lot.id)
                              .order_by(Uo4Filing.year.desc(), Uo4Filing.kind)
                              .options(selectinload(Uo4Filing.versions))).all()


def member_names(lot):
    return {m.id: m.legal_name for m in members_of(lot)}


__all__ = ["Uo4Error", "Conflict", "OperatorMember", "Decimal", "uo4_terms"]


def notify_missing(today):
    """Each plan or statement still not submitted after its deadline is notified once to the
    mandataire and the lot's FC manager (the flag itself is steering's)."""
    from fc_market.uo4 import readings
    lots = db.session.scalars(sa.select(Lot).order_by(Lot.number)
                              .options(selectinload(Lot.contract))).all()
    count = 0
    for kind, reader in ((FilingKind.PLAN, readings.plan_lateness),
                         (FilingKind.STATEMENT, readings.statement_lateness)):
        year = today.year if kind == FilingKind.PLAN else today.year - 1
        label = KIND_LABELS[kind]
        for lot in lots:
            reading = reader([lot], today).get(lot.id)
            if reading is None or not reading.value:
                continue
            key = f"uo4.missing:{lot.id}:{kind}:{year}"
            made = notify(kind="uo4.missing", audience="mandataire", lot_id=lot.id,
                          subject=f"{label} UO4 {year} non déposé",
                          body=f"Le {label.lower()} UO4 {year} du lot {lot.code} n'est pas déposé : "
                               f"{reading.detail}.", link=f"/uo4/lots/{lot.code}", dedup_key=key)
            if made is not None:
                notify_lot_manager(lot, kind="uo4.missing", subject=f"Lot {lot.code} : {label} UO4 "
                                   f"{year} non déposé", body=reading.detail,
                                   link=f"/uo4/lots/{lot.code}", dedup_key=key + ":fc")
                count += 1
    return count
