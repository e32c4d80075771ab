"""Payable statements, invoices, payments, reconciliation, late-payment interest, dashboard.

Domain rules as plain functions (views, CLI, jobs and the demo seed call the same ones).
The arithmetic is in :mod:`fc_market.billing.calc` (statement) and
:mod:`fc_market.billing.interest` (payment delay and moratorium interest).
"""
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from fc_market import events
from fc_market.audit.service import record
from fc_market.billing import calc, interest
from fc_market.billing.models import (DocumentSequence, EcbRate, IndexValue, InterestSettlement,
                                      InterruptionDocument, Invoice, InvoiceInterruption,
                                      InvoiceStatus, MatchStatus, PayableStatement,
                                      PayableStatementLine, Payment, Reconciliation,
                                      StatementStatus)
from fc_market.controls import service as controls
from fc_market.extensions import db
from fc_market.formatting import day as fmt_day
from fc_market.integrity import chain_hash
from fc_market.market.dates import add_months, parse_period, period_of
from fc_market.market.models import Lot, UnitOfWork
from fc_market.models_base import utcnow
from fc_market.market.pricing import PriceBook
from fc_market.market.terms import lot_terms
from fc_market.money import D, format_fr, mul_cents
from fc_market.notifications.service import notify
from fc_market.reporting.models import Act, Report, ReportVersion

log = logging.getLogger(__name__)
ZERO = Decimal("0.00")


class BillingError(ValueError):
    """A French message explaining why the action was refused (nothing was written)."""


class Conflict(BillingError):
    """Someone else did the same thing at the same moment (the conflict page, 409)."""


def money_fr(value):
    return f"{format_fr(D(value), 2)} €"


# -------------------------------------------------------------------- sequences

def next_number(name, year):
    """Next number of a gapless per-year sequence, taken under a row lock.

    The increment happens in the caller's transaction: if it rolls back, the number is
    given back, so issued numbers have no gaps.
    """
    stmt = (sa.select(DocumentSequence).where(DocumentSequence.name == name,
                                              DocumentSequence.year == year)
            .with_for_update().execution_options(populate_existing=True))
    seq = db.session.scalar(stmt)
    if seq is None:
        try:
            with db.session.begin_nested():
                db.session.add(DocumentSequence(name=name, year=year, last_number=0))
        except IntegrityError:
            pass  # created meanwhile by another transaction
        seq = db.session.scalar(stmt)
    seq.last_number += 1
    return seq.last_number


#: Sequences of the documents finance numbers or chains (DocumentSequence names, per year)
STATEMENT_SEQUENCE = "payable_statement"
LEDGER_SEQUENCE = "invoice_ledger"


def statement_number(year, position):
    return f"EL-{year}-{position:05d}"


def seal_statement(statement, year, position):
    """Chain a statement being certified to the previous one of its yearly sequence (read
    without flushing: the certification and its hash are written in one UPDATE)."""
    with db.session.no_autoflush:
        previous = None
        if position > 1:
            previous = db.session.scalar(sa.select(PayableStatement.inalterable_hash).where(
                PayableStatement.number == statement_number(year, position - 1)))
        statement.inalterable_hash = chain_hash(previous, statement.hash_fields())


def ledger_place(recorded_at=None):
    """(recorded_at, year, position) of the next document in the ledger of received
    invoices and credit notes (gapless per year); taken before the document is built."""
    recorded_at = recorded_at or utcnow()
    return recorded_at, recorded_at.year, next_number(LEDGER_SEQUENCE, recorded_at.year)


def seal_invoice(invoice, place, user=None):
    """Put an invoice or credit note being recorded at its ``place`` (:func:`ledger_place`)
    and chain its hash to the previous document of the ledger (call it without autoflush)."""
    user_id = getattr(user, "id", None)
    invoice.recorded_at, year, position = place
    invoice.recorded_by_id = user_id
    invoice.ledger_year, invoice.ledger_position = year, position
    previous = None
    if position > 1:
        previous = db.session.scalar(sa.select(Invoice.inalterable_hash).where(
            Invoice.ledger_year == year, Invoice.ledger_position == position - 1))
    invoice.inalterable_hash = chain_hash(previous, invoice.hash_fields())


@dataclass
class ChainReport:
    """The check of one chain: what it is, how many documents were verified, the first
    broken link (None when intact)."""
    label: str
    checked: int
    broken: str | None = None

    @property
    def message(self):
        if self.broken is None:
            return f"{self.label} : {self.checked} document(s) vérifié(s), chaîne intègre."
        return f"{self.label} : chaîne rompue — {self.broken}"


def _walk_chain(label, last_number, documents, position_of, name_of, still_sealed):
    """Recompute one chain: ``documents`` by position 1…``last_number``."""
    by_position = {position_of(d): d for d in documents}
    top = max([last_number, *by_position], default=0)
    previous, checked = None, 0
    for position in range(1, top + 1):
        doc = by_position.get(position)
        if doc is None:
            return ChainReport(label, checked, f"le document n° {position} de la séquence "
                                               "manque (supprimé ?).")
        problem = still_sealed(doc)
        if problem is None and doc.inalterable_hash is None:
            problem = "il n'a pas d'empreinte (scellement absent)."
        if problem is None and chain_hash(previous, doc.hash_fields()) != doc.inalterable_hash:
            problem = ("son contenu a été modifié après sa certification ou son enregistrement "
                       "(l'empreinte recalculée diffère de l'empreinte enregistrée).")
        if problem is not None:
            return ChainReport(label, checked, f"premier document altéré : {name_of(doc)} ; {problem}")
        previous, checked = doc.inalterable_hash, checked + 1
    return ChainReport(label, checked)


def _statement_place(number):
    """(year, position) of a statement number EL-YYYY-NNNNN, None if it is not one."""
    parts = (number or "").split("-")
    if len(parts) != 3 or parts[0] != "EL" or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return int(parts[1]), int(parts[2])


def verify_chains():
    """Recompute every chain (certified statements per year, the ledger of invoices and
    credit notes per year); returns [ChainReport], one per chain."""
    sequences = {(name, year): last for name, year, last in db.session.execute(
        sa.select(DocumentSequence.name, DocumentSequence.year, DocumentSequence.last_number))}
    reports = []
    statements = db.session.scalars(
        sa.select(PayableStatement).where(PayableStatement.number.is_not(None))
        .options(sa.orm.selectinload(PayableStatement.lines), sa.orm.joinedload(PayableStatement.lot),
                 sa.orm.joinedload(PayableStatement.adjusts))).all()
    by_year, unreadable = defaultdict(list), []
    for st in statements:
        place = _statement_place(st.number)
        (unreadable.append(st) if place is None else by_year[place[0]].append(st))
    if unreadable:
        st = unreadable[0]
        reports.append(ChainReport("États liquidatifs certifiés", 0, (
            f"premier document altéré : l'état n° {st.id} (lot {st.lot.code}, {st.period}) ; son "
            f"numéro « {st.number} » n'est pas un numéro de la séquence.")))
    years = sorted(set(by_year) | {y for (n, y) in sequences if n == STATEMENT_SEQUENCE})
    for year in years:
        reports.append(_walk_chain(
            f"États liquidatifs certifiés {year}", sequences.get((STATEMENT_SEQUENCE, year), 0),
            by_year[year], lambda st: _statement_place(st.number)[1],
            lambda st: f"l'état {st.number} (lot {st.lot.code}, {st.period})",
            lambda st: None if st.status == StatementStatus.CERTIFIED
            else "il n'est plus au statut certifié."))
    invoices = db.session.scalars(sa.select(Invoice).options(sa.orm.joinedload(Invoice.lot))).all()
    by_year = defaultdict(list)
    unsealed = []
    for inv in invoices:
        (unsealed if inv.ledger_year is None else by_year[inv.ledger_year]).append(inv)

    def name(inv):
        return f"{'l’avoir' if inv.kind == 'credit_note' else 'la facture'} {inv.number} (lot {inv.lot.code})"
    years = sorted(set(by_year) | {y for (n, y) in sequences if n == LEDGER_SEQUENCE})
    for year in years:
        reports.append(_walk_chain(
            f"Registre des factures et avoirs {year}", sequences.get((LEDGER_SEQUENCE, year), 0),
            by_year[year], lambda inv: inv.ledger_position, name, lambda inv: None))
    if unsealed:
        first = min(unsealed, key=lambda inv: inv.id)
        reports.append(ChainReport("Registre des factures et avoirs", 0,
                                   f"{len(unsealed)} document(s) hors registre, dont {name(first)} : "
                                   "enregistré(s) sans empreinte."))
    return reports


def _discard_file(key):
    """Remove a file stored for a document the database refused (no orphan on disk)."""
    import os
    from fc_market import storage
    try:
        os.remove(storage.path_of(key))
    except OSError:
        pass


def _insert_document(invoice, key, number):
    """Insert an invoice or credit note: a duplicate number written meanwhile by someone
    else is a :class:`Conflict` (the unit of work rolls back), and its file is removed."""
    db.session.add(invoice)
    try:
        db.session.flush()
    except IntegrityError as exc:
        _discard_file(key)
        log.warning("document %s refused by the database: %s", number, exc.orig)
        raise Conflict(f"Le numéro « {number} » vient d'être enregistré pour ce lot par "
                       "quelqu'un d'autre : rien n'a été enregistré. Rechargez la page.") from None


def _lock_invoice(invoice_id):
    """The invoice, locked (row lock on PostgreSQL) and its optimistic counter bumped, so
    two credit notes on it are checked one after the other on every engine."""
    locked = db.session.scalar(sa.select(Invoice).where(Invoice.id == invoice_id)
                               .with_for_update().execution_options(populate_existing=True))
    if locked is None:
        raise BillingError("Facture introuvable.")
    seen = locked.version_counter
    table = Invoice.__table__
    bumped = db.session.execute(table.update().where(table.c.id == invoice_id,
                                                     table.c.version_counter == seen)
                                .values(version_counter=seen + 1)).rowcount
    if bumped != 1:
        raise Conflict("Cette facture vient d'être modifiée par quelqu'un d'autre : rien n'a été "
                       "enregistré. Rechargez la page.")
    sa.orm.attributes.set_committed_value(locked, "version_counter", seen + 1)
    return locked


def credited_in_database(invoice_id):
    """Credit notes recorded on an invoice, read from the database (not the session)."""
    return db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Invoice.amount_incl_tax), 0))
        .where(Invoice.corrects_id == invoice_id, Invoice.status != InvoiceStatus.REJECTED)) or ZERO


# ------------------------------------------------------------------------ rates

def ecb_rates():
    return [(r.effective_on, D(r.rate)) for r in
            db.session.scalars(sa.select(EcbRate).order_by(EcbRate.effective_on))]


def add_ecb_rate(effective_on, rate, user=None, *, source=None, illustrative=False):
    rate = D(rate)
    if not Decimal("-10") < rate < Decimal("100"):
        raise BillingError("Taux BCE hors des bornes plausibles (en pourcentage, ex. 2,15).")
    if db.session.scalar(sa.select(EcbRate.id).where(EcbRate.effective_on == effective_on)):
        raise BillingError(f"Un taux BCE est déjà enregistré au {fmt_day(effective_on)} ; "
                           "un taux saisi ne se modifie pas.")
    row = EcbRate(effective_on=effective_on, rate=rate, source=source, illustrative=illustrative,
                  entered_by_id=getattr(user, "id", None))
    db.session.add(row)
    db.session.flush()
    record("billing.ecb_rate", row, summary=f"Taux BCE {format_fr(rate)} % au {fmt_day(effective_on)}",
           user=user)
    return row


def add_index_value(index_name, reference_month, value, published_on, user=None, *, source=None,
                    illustrative=False):
    value = D(value)
    index_name = (index_name or "").strip()
    if not index_name:
        raise BillingError("Nom de l'indice manquant.")
    if value <= 0:
        raise BillingError("La valeur de l'indice doit être strictement positive.")
    reference_month = reference_month.replace(day=1)
    if published_on < reference_month:
        raise BillingError("La date de publication précède le mois de l'indice.")
    if db.session.scalar(sa.select(IndexValue.id).where(IndexValue.index_name == index_name,
                                                        IndexValue.reference_month == reference_month)):
        raise BillingError(f"L'indice {index_name} de {period_of(reference_month)} est déjà "
                           "enregistré ; une valeur saisie ne se modifie pas.")
    row = IndexValue(index_name=index_name, reference_month=reference_month, value=value,
                     published_on=published_on, source=source, illustrative=illustrative,
                     entered_by_id=getattr(user, "id", None))
    db.session.add(row)
    db.session.flush()
    record("billing.index_value", row, summary=(
        f"Indice {index_name} {period_of(reference_month)} = {format_fr(value)} "
        f"(publié le {fmt_day(published_on)})"), user=user)
    return row


def revision_date(clause, period_start):
    """Date of the revision in force for a month: the latest anniversary of the contract's
    first revision date on or before the month's first day (None before the first one).
    ``clause``: the lot's revision terms (:class:`fc_market.market.terms.RevisionTerms`)."""
    first = clause.first_date
    if not clause.index_name or first is None or period_start < first:
        return None
    years = period_start.year - first.year
    candidate = add_months(first, 12 * years)
    if candidate > period_start:
        candidate = add_months(first, 12 * (years - 1))
    return candidate


def index_value_for(clause, on):
    """The latest value of the revision index of ``clause`` published on or before ``on``."""
    return db.session.scalar(
        sa.select(IndexValue).where(IndexValue.index_name == clause.index_name,
                                    IndexValue.published_on <= on)
        .order_by(IndexValue.reference_month.desc()).limit(1))


# ------------------------------------------------------------------- statements

def validated_version(lot_id, period):
    return controls.validated_version(lot_id, period)


def first_submission_days_late(report_id):
    """Days late of the report's first submission: a correction asked for by FC does not
    make the month later than it was delivered."""
    return db.session.scalar(
        sa.select(ReportVersion.days_late).where(ReportVersion.report_id == report_id,
                                                 ReportVersion.submitted_at.is_not(None))
        .order_by(ReportVersion.number).limit(1)) or 0


def act_groups(lot, version, book=None):
    """[ActGroup] of a version: acts counted per UO and unit price in force on each act's date."""
    book = book or PriceBook.for_lot(lot.id)
    units = {u.id: u for u in db.session.scalars(
        sa.select(UnitOfWork).where(UnitOfWork.market_id == lot.market_id))}
    counts = defaultdict(int)
    rows = db.session.execute(
        sa.select(Act.uo_id, Act.act_date, sa.func.count()).where(Act.version_id == version.id)
        .group_by(Act.uo_id, Act.act_date)).all()
    for uo_id, act_date, count in rows:
        uo = units[uo_id]
        if uo.is_lump_sum:
            continue
        price = book.price_at(uo_id, act_date)
        if price is None:
            raise BillingError(f"Aucun prix en vigueur pour {uo.code} au {fmt_day(act_date)} "
                               f"(lot {lot.code}).")
        counts[(uo.code, D(price))] += count
    return [calc.ActGroup(code, price, n) for (code, price), n in sorted(counts.items())]


def lump_sum_for(lot, period_start, book=None):
    """The UO4 monthly share: the yearly amount in force on the month's first day, split in
    12 shares over the contract year (first months carry the remainder cents)."""
    contract = lot.contract
    if not (contract.start_date <= period_start <= contract.end_date):
        return None
    uo = db.session.scalar(sa.select(UnitOfWork).where(UnitOfWork.market_id == lot.market_id,
                                                       UnitOfWork.kind == "lump_sum")
                           .order_by(UnitOfWork.sort_order).limit(1))
    if uo is None:
        return None
    book = book or PriceBook.for_lot(lot.id)
    yearly = book.price_at(uo.id, period_start)
    if not yearly:
        return None
    months = (period_start.year - contract.start_date.year) * 12 + period_start.month \
        - contract.start_date.month
    return calc.LumpSum(D(yearly), months % 12 + 1, 12, uo.code)


def build_input(lot, period):
    """(StatementInput, context) for a lot-month, or (None, None) without a validated report."""
    contract = lot.contract
    if contract is None:
        raise BillingError(f"Le lot {lot.code} n'a pas de contrat.")
    start, _ = parse_period(period)
    version = validated_version(lot.id, period)
    if version is None:
        return None, None
    book = PriceBook.for_lot(lot.id)
    notes, warnings = [], []
    groups = act_groups(lot, version, book)
    lump = lump_sum_for(lot, start, book)

    terms = lot_terms(lot, start)
    clause = terms.revision
    revision, index_row, rev_date = None, None, revision_date(clause, start)
    if rev_date is not None:
        index_row = index_value_for(clause, rev_date)
        if index_row is None:
            warnings.append(f"Révision des prix due au {fmt_day(rev_date)} mais aucune valeur de "
                            f"l'indice {terms.revision.index_name} publiée à cette date n'est "
                            "saisie : état calculé aux prix de base (coefficient 1).")
        else:
            revision = calc.RevisionClause(clause.fixed_part, clause.variable_part,
                                           clause.base_value, index_row.value,
                                           decimals=terms.revision.coefficient_decimals,
                                           rounding=terms.revision.coefficient_rounding)
            notes.append(
                f"Révision au {fmt_day(rev_date)} : C = {format_fr(D(clause.fixed_part))} + "
                f"{format_fr(D(clause.variable_part))} × {format_fr(D(index_row.value))} / "
                f"{format_fr(D(clause.base_value))} = {format_fr(revision.coefficient)} "
                f"(indice {clause.index_name} de {period_of(index_row.reference_month)}, "
                f"publié le {fmt_day(index_row.published_on)}"
                + (", valeur illustrative" if index_row.illustrative else "") + ").")
    coefficient = revision.coefficient if revision is not None else Decimal("1")

    days_late = first_submission_days_late(version.report_id)
    penalty = None
    penalties = terms.penalties
    if days_late and penalties.late_reporting_per_day > 0:
        penalty = calc.LatePenalty(days_late, penalties.late_reporting_per_day,
                                   cap_amount=penalties.late_reporting_cap)

    withheld_raw, sources, withheld_by_uo = ZERO, [], defaultdict(lambda: ZERO)
    for reference, amount, by_uo in controls.withholdings_for(lot.id, period):
        withheld_raw += amount
        sources.append({"campaign": reference, "amount": str(amount)})
        for code, value in by_uo.items():
            withheld_by_uo[code] += value
    # withheld acts were paid at the revised price: withhold them at the same price
    withholdings = (mul_cents(withheld_raw, coefficient, terms.rounding.mode) if withheld_raw
                    else ZERO)
    if withheld_raw:
        notes.append(f"Retenue de contrôle de service fait : {money_fr(withheld_raw)} aux prix "
                     f"contractuels × {format_fr(coefficient)} = {money_fr(withholdings)} HT ("
                     + ", ".join(s["campaign"] for s in sources) + ").")
    running = controls.open_campaign_on(lot.id, period)
    if running:
        warnings.append(f"Contrôle de service fait {running} en cours sur ce mois : sa retenue "
                        "éventuelle s'appliquera à la clôture (état rectificatif si l'état est "
                        "déjà certifié).")

    inp = calc.StatementInput(act_groups=groups, lump_sum=lump, revision=revision, penalty=penalty,
                              withholdings=withholdings, vat_rate=terms.vat_rate,
                              rounding=terms.rounding.mode,
                              penalty_vat_treatment=penalties.vat_treatment,
                              uo_order=terms.uo_order)
    context = {"version_id": version.id, "version_number": version.number, "days_late": days_late,
               "index_value_id": index_row.id if index_row else None,
               "revision_date": rev_date.isoformat() if rev_date else None,
               "withholding_sources": sources, "withholdings_raw": str(withheld_raw),
               "withheld_by_uo": {k: str(v) for k, v in sorted(withheld_by_uo.items())},
               "notes": notes, "warnings": warnings}
    return inp, context


def _s(value):
    return None if value is None else str(value)


def snapshot_of(result, context):
    """JSON image of a computed statement (amounts as exact strings) and its context."""
    pen = result.penalty
    return {
        "lines": [{"kind": l.kind, "uo_code": l.uo_code, "label": l.label, "quantity": l.quantity,
                   "unit_price": str(l.unit_price), "gross_amount": str(l.gross_amount),
                   "revision_adjustment": str(l.revision_adjustment), "amount": str(l.amount)}
                  for l in result.lines],
        "revision_coefficient": str(result.revision_coefficient), "rounding": result.rounding,
        "penalty_vat_treatment": result.penalty_vat_treatment,
        "penalty": None if pen is None else {
            "days_late": pen.days_late, "daily_amount": str(pen.daily_amount),
            "raw_amount": str(pen.raw_amount), "cap_amount": _s(pen.cap_amount),
            "cap_from_rate": _s(pen.cap_from_rate), "amount": str(pen.amount), "capped": pen.capped},
        **{k: str(getattr(result, k)) for k in (
            "subtotal", "penalties", "withholdings", "net_excl_tax_before_floor", "total_excl_tax",
            "vat_rate", "vat", "total_incl_tax", "penalties_deducted_incl_tax", "amount_payable",
            "unabsorbed")},
        "context": context,
    }


def statement_from_snapshot(snap):
    """Rebuild a :class:`calc.Statement` from a snapshot (to diff a certified statement)."""
    lines = tuple(calc.StatementLine(
        uo_code=l["uo_code"], label=l["label"], quantity=l["quantity"], unit_price=D(l["unit_price"]),
        gross_amount=D(l["gross_amount"]), revision_adjustment=D(l["revision_adjustment"]),
        amount=D(l["amount"]), kind=l["kind"]) for l in snap["lines"])
    return calc.Statement(
        lines=lines, revision_coefficient=D(snap["revision_coefficient"]), rounding=snap["rounding"],
        penalty_vat_treatment=snap["penalty_vat_treatment"], penalty=None,
        **{k: D(snap[k]) for k in (
            "subtotal", "penalties", "withholdings", "net_excl_tax_before_floor", "total_excl_tax",
            "vat_rate", "vat", "total_incl_tax", "penalties_deducted_incl_tax", "amount_payable",
            "unabsorbed")})


TOTALS = ("subtotal", "penalties", "withholdings", "total_excl_tax", "vat", "total_incl_tax",
          "penalties_deducted_incl_tax", "amount_payable", "unabsorbed")


def _set_lines(statement, lines):
    """Replace the lines (old ones deleted first: positions are unique)."""
    if statement.lines:
        statement.lines.clear()
        db.session.flush()
    for position, line in enumerate(lines, start=1):
        statement.lines.append(PayableStatementLine(position=position, **line))


def _line_dict(l):
    return {"kind": l.kind, "uo_code": l.uo_code, "label": l.label[:200], "quantity": l.quantity,
            "unit_price": l.unit_price, "gross_amount": l.gross_amount,
            "revision_adjustment": l.revision_adjustment, "amount": l.amount}


def _delta_lines(old, new):
    """Lines of an adjusting statement: new − old per line key, changed lines only."""
    diff = calc.diff_statements(old, new)
    old_by, new_by = {l.key: l for l in old.lines}, {l.key: l for l in new.lines}
    out = []
    for d in diff.changed_lines:
        key = (d.kind, d.uo_code, d.unit_price if d.kind == "acts" else None)
        o, n = old_by.get(key), new_by.get(key)
        gross = (n.gross_amount if n else ZERO) - (o.gross_amount if o else ZERO)
        rev = (n.revision_adjustment if n else ZERO) - (o.revision_adjustment if o else ZERO)
        label = f"{d.label} (écart : {d.old_quantity} → {d.new_quantity})" if d.kind == "acts" \
            else f"{d.label} (écart)"
        out.append({"kind": d.kind, "uo_code": d.uo_code, "label": label[:200],
                    "quantity": d.quantity_delta, "unit_price": d.unit_price, "gross_amount": gross,
                    "revision_adjustment": rev, "amount": d.amount_delta})
    return diff, out


def statements_of(lot_id, period):
    return db.session.scalars(sa.select(PayableStatement).where(
        PayableStatement.lot_id == lot_id, PayableStatement.period == period)
        .order_by(PayableStatement.rank)).all()


def refresh_statement(lot, period, user=None, *, reason=None):
    """(Re)compute the lot-month statement from its current inputs.

    * no validated report: an open statement is withdrawn (a certified one stays);
    * nothing certified yet: the statement (rank 0) is created or recomputed;
    * already certified: the differences, if any, go to an open adjusting statement.

    Returns the statement concerned (None when there is none).
    """
    inp, context = build_input(lot, period)
    existing = statements_of(lot.id, period)
    open_ = next((s for s in existing if s.status == StatementStatus.OPEN), None)
    certified = [s for s in existing if s.status == StatementStatus.CERTIFIED]
    if inp is None:
        if open_ is not None:
            record("billing.statement_withdrawn", open_, user=user, summary=(
                f"État provisoire {lot.code} {period} retiré : plus de reporting validé "
                "pour ce mois."))
            db.session.delete(open_)
            db.session.flush()
        return certified[-1] if certified else None
    result = calc.compute_statement(inp)
    snap = snapshot_of(result, context)
    if open_ is not None and open_.snapshot == snap:
        return open_
    if not certified:
        statement = open_ or PayableStatement(lot_id=lot.id, period=period, rank=0)
        values = {k: getattr(result, k) for k in TOTALS}
        lines = [_line_dict(l) for l in result.lines]
    else:
        last = certified[-1]
        old = statement_from_snapshot(last.snapshot)
        diff, lines = _delta_lines(old, result)
        deltas = {k: getattr(result, k) - getattr(old, k) for k in TOTALS}
        if not lines and not any(deltas.values()):
            if open_ is not None:
                db.session.delete(open_)
                db.session.flush()
            return last
        statement = open_ or PayableStatement(lot_id=lot.id, period=period, rank=last.rank + 1)
        statement.adjusts_id = last.id
        values = deltas
    created = statement.id is None
    if created:
        db.session.add(statement)
    for key, value in values.items():
        setattr(statement, key, value)
    statement.vat_rate = result.vat_rate
    statement.revision_coefficient = result.revision_coefficient
    statement.days_late = context["days_late"]
    statement.report_version_id = context["version_id"]
    statement.index_value_id = context["index_value_id"]
    statement.snapshot = snap
    statement.computed_at = utcnow()
    db.session.flush()
    _set_lines(statement, lines)
    db.session.flush()
    record("billing.statement_computed", statement, user=user, summary=(
        f"{'Calcul' if created else 'Recalcul'} de l'{'état rectificatif' if statement.rank else 'état liquidatif'} "
        f"{lot.code} {period} (version {context['version_number']} du reporting)"
        + (f" : {reason}" if reason else "") + f" ; net à payer {money_fr(statement.amount_payable)}."))
    return statement


def certify(statement_id, user=None, *, expected_version=None, verify=True, when=None):
    """Certify service fait: the statement is frozen and numbered (gapless, per year).

    ``verify`` recomputes the month first and refuses if anything changed since the user
    looked (the demo seed, which has just computed it, skips that); ``when`` backdates the
    certification (demo only).
    """
    statement = db.session.scalar(
        sa.select(PayableStatement).where(PayableStatement.id == statement_id)
        .with_for_update().execution_options(populate_existing=True))
    if statement is None:
        raise BillingError("État introuvable.")
    if statement.is_certified:
        who = statement.certified_by.full_name if statement.certified_by else "un autre utilisateur"
        raise BillingError(f"Cet état a déjà été certifié par {who} le "
                           f"{fmt_day(statement.certified_at)} (n° {statement.number}) : "
                           "rien n'a été modifié.")
    if expected_version is not None and str(expected_version) != str(statement.version_counter):
        raise BillingError("Cet état a été recalculé ou modifié depuis que vous l'avez affiché : "
                           "vérifiez-le de nouveau avant de certifier.")
    lot = statement.lot
    if verify:
        before = dict(statement.snapshot or {})
        current = refresh_statement(lot, statement.period, user, reason="vérification avant certification")
        if current is None or current.id != statement.id or current.snapshot != before:
            raise BillingError("Les données du mois ont changé : l'état vient d'être recalculé. "
                               "Vérifiez-le de nouveau avant de certifier.")
    when = when or utcnow()
    year = when.year
    position = next_number(STATEMENT_SEQUENCE, year)
    user_id = getattr(user, "id", None)
    with db.session.no_autoflush:  # certification and hash go in one UPDATE
        statement.number = statement_number(year, position)
        statement.status = StatementStatus(statement.status).next(StatementStatus.CERTIFIED)
        statement.certified_at = when
        statement.certified_by_id = user_id
        seal_statement(statement, year, position)
    try:
        db.session.flush()
    except StaleDataError:
        raise BillingError("Un autre utilisateur vient de certifier ou de recalculer cet état : "
                           "rechargez la page.") from None
    record("billing.statement_certified", statement, user=user, summary=(
        f"Service fait certifié : {statement.title}, {lot.code} {statement.period}, net à payer "
        f"{money_fr(statement.amount_payable)}."))
    notify(kind="billing.certified", lot_id=lot.id, audience="mandataire",
           subject=f"{statement.title} — {statement.period}",
           body=(f"France compétences a certifié le service fait de {statement.period} : "
                 f"{money_fr(statement.total_excl_tax)} HT, {money_fr(statement.total_incl_tax)} TTC"
                 + (f", pénalités déduites {money_fr(statement.penalties_deducted_incl_tax)}"
                    if statement.penalties_deducted_incl_tax else "")
                 + ". Vous pouvez déposer la facture correspondante."),
           link=f"/etats/{statement.id}", dedup_key=f"billing.certified:{statement.id}")
    return statement


def refresh_open_statements(since=None, user=None, reason=None):
    """Recompute every lot-month that has a statement (from ``since``, a ``YYYY-MM``): open
    statements follow, certified ones get an adjusting statement if anything changed."""
    stmt = sa.select(PayableStatement.lot_id, PayableStatement.period).distinct()
    if since:
        stmt = stmt.where(PayableStatement.period >= since)
    count = 0
    lots = {}
    for lot_id, period in db.session.execute(stmt.order_by(PayableStatement.lot_id,
                                                           PayableStatement.period)).all():
        lot = lots.setdefault(lot_id, db.session.get(Lot, lot_id))
        refresh_statement(lot, period, user, reason=reason)
        count += 1
    return count


def watch_payments(today=None):
    """Warn finance of invoices whose payment term ends within 5 days, and of late ones."""
    today = today or date.today()
    invoices = db.session.scalars(
        sa.select(Invoice).where(Invoice.kind == "invoice",
                                 Invoice.status.in_([InvoiceStatus.RECEIVED, InvoiceStatus.ACCEPTED]))
        .options(sa.orm.selectinload(Invoice.reconciliations), sa.orm.joinedload(Invoice.lot),
                 sa.orm.selectinload(Invoice.credit_notes))).all()
    sent = 0
    for inv in invoices:
        rest = outstanding(inv)
        if rest <= 0:
            continue
        deadline = due_on(inv, today)
        if deadline is None:
            continue  # interrupted: no term runs until the documents are received
        if deadline < today:
            key, subject = f"billing.late:{inv.id}", f"Facture {inv.number} en retard de paiement"
            body = (f"La facture {inv.number} (lot {inv.lot.code}) devait être payée au plus tard le "
                    f"{fmt_day(deadline)} ; reste {money_fr(rest)}. Des intérêts moratoires et "
                    "l'indemnité forfaitaire de 40 € courent.")
        elif deadline <= today + timedelta(days=5):
            key, subject = f"billing.due_soon:{inv.id}", f"Facture {inv.number} à payer avant le {fmt_day(deadline)}"
            body = (f"Le délai de paiement de la facture {inv.number} (lot {inv.lot.code}) expire le "
                    f"{fmt_day(deadline)} ; reste {money_fr(rest)}.")
        else:
            continue
        if notify(kind="billing.payment_watch", audience="fc", role="finance", lot_id=inv.lot_id,
                  subject=subject, body=body, link=f"/factures/{inv.id}", dedup_key=key):
            sent += 1
    return sent


# -------------------------------------------------------------------- events

@events.on("report.validated")
def _on_report_validated(version):
    report = db.session.get(Report, version.report_id)
    lot = db.session.get(Lot, report.lot_id)
    refresh_statement(lot, report.period, reason="reporting validé")


@events.on("report.superseded")
def _on_report_superseded(version):
    report = db.session.get(Report, version.report_id)
    lot = db.session.get(Lot, report.lot_id)
    refresh_statement(lot, report.period, reason="reporting remplacé par une correction")


@events.on("control.closed")
def _on_control_closed(campaign):
    lot = db.session.get(Lot, campaign.lot_id)
    for p in campaign.periods:
        refresh_statement(lot, p.period, reason=f"contrôle {campaign.reference} clôturé")


# ----------------------------------------------------------------- invoices

def _amount(value, what):
    try:
        value = D(value if not isinstance(value, str) else value.replace("\u202f", "")
                  .replace(" ", "").replace(",", "."))
    except (TypeError, ValueError):
        raise BillingError(f"{what} : montant invalide « {value} ».") from None
    if value < 0:
        raise BillingError(f"{what} : le montant ne peut pas être négatif.")
    if value != value.quantize(Decimal("0.01")):
        raise BillingError(f"{what} : au plus deux décimales (centimes).")
    return value.quantize(Decimal("0.01"))


def three_way(statement, invoice_lines=None):
    """Rows reporting → service fait → invoice per UO, then the totals.

    Each row: uo_code, quantity reported, amount at contract (revised) price, withheld,
    certified, invoiced (None when not detailed), difference.
    """
    snap = statement.snapshot or {}
    sign = Decimal(-1) if statement.amount_payable < 0 else Decimal(1)
    coefficient = D(snap.get("revision_coefficient", "1"))
    withheld_raw = {k: D(v) for k, v in (snap.get("context", {}).get("withheld_by_uo") or {}).items()}
    by_uo = {}
    for line in statement.lines:
        row = by_uo.setdefault(line.uo_code, {"uo_code": line.uo_code, "quantity": 0, "amount": ZERO,
                                              "withheld": ZERO})
        row["quantity"] += line.quantity
        row["amount"] += line.amount
    for code, raw in withheld_raw.items():
        row = by_uo.setdefault(code, {"uo_code": code, "quantity": 0, "amount": ZERO, "withheld": ZERO})
        if not statement.is_adjusting:
            row["withheld"] = mul_cents(raw, coefficient, snap.get("rounding", "half_up"))
    invoiced = {l["uo_code"]: D(l["amount"]) for l in (invoice_lines or [])}
    rows = []
    for code in sorted(by_uo, key=calc._uo_sort_key):
        row = by_uo[code]
        row["certified"] = (row["amount"] - row["withheld"]) * sign
        row["invoiced"] = invoiced.get(code)
        row["difference"] = None if row["invoiced"] is None else row["invoiced"] - row["certified"]
        rows.append(row)
    return rows


def expected_totals(statement):
    """What the operator should invoice for a statement (absolute values; a negative
    adjusting statement calls for a credit note)."""
    return {"amount_excl_tax": abs(statement.total_excl_tax), "vat": abs(statement.vat),
            "amount_incl_tax": abs(statement.total_incl_tax),
            "deductions": abs(statement.penalties_deducted_incl_tax)}


def match_invoice(invoice):
    """Three-way match of a recorded invoice: rows per UO and totals with their differences."""
    statement = invoice.statement
    rows = three_way(statement, (invoice.invoiced_lines or []))
    exp = expected_totals(statement)
    totals = [(label, exp[key], getattr(invoice, key), getattr(invoice, key) - exp[key])
              for key, label in (("amount_excl_tax", "Total HT"), ("vat", "TVA"),
                                 ("amount_incl_tax", "Total TTC"))]
    return rows, totals


def record_invoice(statement, user=None, *, number, issued_on, amount_excl_tax, vat, amount_incl_tax,
                   lines=None, file=None, received_on=None, today=None, comment=None,
                   file_types=("application/pdf",), structured_format=None, recorded_at=None):
    """Record the operator's invoice (or credit note, for a negative adjusting statement).

    ``file`` is ``(filename, bytes)`` (PDF); ``lines`` ``[{"uo_code", "amount"}]`` when the
    invoice is detailed per UO.  The match status is computed at once and never edited;
    ``recorded_at`` backdates the recording (demo only).
    """
    from fc_market import storage
    today = today or date.today()
    received_on = received_on or today
    statement = db.session.scalar(sa.select(PayableStatement).where(PayableStatement.id == statement.id)
                                  .with_for_update().execution_options(populate_existing=True))
    if not statement.is_certified:
        raise BillingError("Le service fait de ce mois n'est pas encore certifié : la facture se "
                           "dépose sur un état liquidatif certifié.")
    if statement.live_invoice is not None:
        raise BillingError(f"Une facture ({statement.live_invoice.number}) est déjà enregistrée pour "
                           "cet état ; pour la corriger, déposez un avoir.")
    number = (number or "").strip()
    if not number or len(number) > 60:
        raise BillingError("Numéro de facture manquant ou trop long (60 caractères au plus).")
    if issued_on is None:
        raise BillingError("Date de facture manquante.")
    if issued_on > today:
        raise BillingError("La date de facture est dans le futur.")
    if received_on > today:
        raise BillingError("Date de réception (dépôt sur Chorus Pro) : elle ne peut pas être dans "
                           "le futur.")
    if received_on < issued_on:
        raise BillingError("La date de réception précède la date de facture.")
    excl = _amount(amount_excl_tax, "Montant HT")
    vat_ = _amount(vat, "TVA")
    incl = _amount(amount_incl_tax, "Montant TTC")
    if excl + vat_ != incl:
        raise BillingError(f"Montant TTC incohérent : {money_fr(excl)} HT + {money_fr(vat_)} de TVA "
                           f"= {money_fr(excl + vat_)}, et non {money_fr(incl)}.")
    if db.session.scalar(sa.select(Invoice.id).where(Invoice.lot_id == statement.lot_id,
                                                     Invoice.number == number)):
        raise BillingError(f"Le numéro de facture « {number} » est déjà enregistré pour ce lot.")
    clean_lines = []
    for line in lines or []:
        if line.get("amount") in (None, ""):
            continue
        clean_lines.append({"uo_code": line["uo_code"],
                            "amount": str(_amount(line["amount"], f"Ligne {line['uo_code']}"))})
    if not file or not file[1]:
        raise BillingError("Joignez la facture au format PDF.")
    if storage.sniff(file[1], file_types) is None:
        raise BillingError("La facture doit être un fichier PDF (contrôle sur le contenu).")
    from fc_market.einvoice.read import INVOICE_ATTACHMENTS  # a Factur-X PDF carries its XML
    attachments = INVOICE_ATTACHMENTS if structured_format == "factur-x" else ()
    storage.check(file[1], file_types, attachments)  # parses, no script, action or attachment
    negative = statement.amount_payable < 0
    corrects = None
    if negative:
        earlier = [s for s in statements_of(statement.lot_id, statement.period) if s.rank < statement.rank]
        corrects = next((s.live_invoice for s in reversed(earlier) if s.live_invoice), None)
        if corrects is None:
            raise BillingError("Cet état rectificatif est négatif : il appelle un avoir sur la facture "
                               "du mois, mais aucune facture n'est enregistrée pour ce mois.")
        corrects = _lock_invoice(corrects.id)
    exp = expected_totals(statement)
    place = ledger_place(recorded_at)
    invoice = Invoice(lot_id=statement.lot_id, statement_id=statement.id,
                      kind="credit_note" if negative else "invoice",
                      corrects_id=corrects.id if corrects else None, number=number,
                      issued_on=issued_on, received_on=received_on, amount_excl_tax=excl, vat=vat_,
                      amount_incl_tax=incl, deductions=ZERO if negative else exp["deductions"],
                      invoiced_lines=clean_lines or None, match_status=MatchStatus.MATCHED,
                      structured_format=structured_format, decision_comment=(comment or None))
    with db.session.no_autoflush:
        invoice.statement = statement
        rows, totals = match_invoice(invoice)
        mismatch = any(d for *_, d in totals) or any(r["difference"] for r in rows
                                                     if r["difference"] is not None)
        invoice.match_status = MatchStatus.MISMATCH if mismatch else MatchStatus.MATCHED
        key, mimetype, digest, display = storage.store(file[1], file[0], allowed=file_types,
                                                       attachments=attachments)
        invoice.file_key, invoice.file_mimetype, invoice.file_sha256, invoice.file_name = \
            key, mimetype, digest, display
        seal_invoice(invoice, place, user)
    _insert_document(invoice, key, number)
    matched = invoice.match_status == MatchStatus.MATCHED
    record("billing.invoice_recorded", invoice, user=user, summary=(
        f"{invoice.kind_label} {number} du {fmt_day(issued_on)} enregistrée pour {statement.title} "
        f"({statement.period}) : {money_fr(incl)} TTC, "
        + ("conforme à l'état" if matched else "ÉCART avec l'état") + "."))
    notify(kind="billing.invoice", audience="fc", role="finance", lot_id=statement.lot_id,
           subject=f"{invoice.kind_label} {number} reçue — lot {statement.lot.code} {statement.period}",
           body=(f"{invoice.kind_label} {number} de {money_fr(incl)} TTC reçue le {fmt_day(received_on)} ; "
                 + ("montants conformes à l'état liquidatif." if matched
                    else "écart avec l'état liquidatif : à vérifier.")),
           link=f"/factures/{invoice.id}", dedup_key=f"billing.invoice:{invoice.id}")
    return invoice


def record_credit_note(invoice, user=None, *, number, issued_on, amount_excl_tax, vat, amount_incl_tax,
                       file=None, reason=None, today=None, recorded_at=None):
    """A credit note correcting a recorded invoice (the invoice itself is never edited).
    ``recorded_at`` backdates the recording (demo only: its seed is then deterministic).

    The cap (what is still due on the invoice) is checked under a lock on the invoice: a row
    lock on PostgreSQL and its optimistic counter everywhere, so two simultaneous credit
    notes cannot together credit more than the invoice."""
    from fc_market import storage
    today = today or date.today()
    if invoice.kind != "invoice":
        raise BillingError("Un avoir corrige une facture, pas un autre avoir.")
    if invoice.status == InvoiceStatus.REJECTED:
        raise BillingError("Cette facture est rejetée : elle n'appelle pas d'avoir.")
    number = (number or "").strip()
    if not number or len(number) > 60:
        raise BillingError("Numéro d'avoir manquant ou trop long (60 caractères au plus).")
    if issued_on is None or issued_on > today:
        raise BillingError("Date d'avoir manquante ou dans le futur.")
    excl, vat_, incl = (_amount(amount_excl_tax, "Montant HT"), _amount(vat, "TVA"),
                        _amount(amount_incl_tax, "Montant TTC"))
    if excl + vat_ != incl:
        raise BillingError(f"Montant TTC incohérent : {money_fr(excl)} + {money_fr(vat_)} ≠ {money_fr(incl)}.")
    if incl <= 0:
        raise BillingError("Le montant de l'avoir doit être positif.")
    if not reason or not reason.strip():
        raise BillingError("Indiquez le motif de l'avoir.")
    invoice = _lock_invoice(invoice.id)
    if invoice.status == InvoiceStatus.REJECTED:
        raise BillingError("Cette facture est rejetée : elle n'appelle pas d'avoir.")
    due = max(invoice.amount_incl_tax - invoice.deductions - D(credited_in_database(invoice.id)),
              ZERO)
    if incl > due:
        raise BillingError(f"L'avoir ({money_fr(incl)}) dépasse le montant restant dû de la facture "
                           f"({money_fr(due)}) : rien n'a été enregistré.")
    if db.session.scalar(sa.select(Invoice.id).where(Invoice.lot_id == invoice.lot_id,
                                                     Invoice.number == number)):
        raise BillingError(f"Le numéro « {number} » est déjà enregistré pour ce lot.")
    if not file or not file[1] or storage.sniff(file[1], ("application/pdf",)) is None:
        raise BillingError("Joignez l'avoir au format PDF (contrôle sur le contenu).")
    storage.check(file[1], ("application/pdf",))  # parses, no script, action or attachment
    place = ledger_place(recorded_at)
    key, mimetype, digest, display = storage.store(file[1], file[0], allowed=("application/pdf",))
    note = Invoice(lot_id=invoice.lot_id, statement_id=invoice.statement_id, kind="credit_note",
                   corrects_id=invoice.id, number=number, issued_on=issued_on, received_on=today,
                   amount_excl_tax=excl, vat=vat_, amount_incl_tax=incl, deductions=ZERO,
                   match_status=MatchStatus.MATCHED, status=InvoiceStatus.ACCEPTED,
                   decision_comment=reason.strip(), file_key=key, file_mimetype=mimetype,
                   file_sha256=digest, file_name=display)
    with db.session.no_autoflush:
        note.corrects = invoice
        seal_invoice(note, place, user)
    _insert_document(note, key, number)
    record("billing.credit_note", note, user=user, summary=(
        f"Avoir {number} de {money_fr(incl)} TTC sur la facture {invoice.number} : {reason.strip()}"))
    return note


def decide(invoice_id, user, action, *, reason=None, expected_version=None, today=None):
    """Finance accepts (orders the payment) or rejects an invoice.

    Missing or wrong documents are not a decision: they call for an interruption of the
    payment term (:func:`interrupt`), and the invoice is accepted once they are received.
    """
    today = today or date.today()
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.id == invoice_id)
                                .with_for_update().execution_options(populate_existing=True))
    if invoice is None:
        raise BillingError("Facture introuvable.")
    if expected_version is not None and str(expected_version) != str(invoice.version_counter):
        raise BillingError("Cette facture a été traitée par un autre utilisateur entre-temps : "
                           "rechargez la page.")
    target = {"accept": InvoiceStatus.ACCEPTED, "reject": InvoiceStatus.REJECTED}.get(action)
    if target is None:
        raise BillingError("Choisissez une décision : accepter ou rejeter.")
    reason = (reason or "").strip() or None
    try:
        InvoiceStatus.check(invoice.status, target)
    except ValueError as exc:
        raise BillingError(str(exc)) from None
    if target == InvoiceStatus.REJECTED and not reason:
        raise BillingError("Un rejet doit être motivé.")
    if (target == InvoiceStatus.ACCEPTED and invoice.interruption is not None
            and invoice.interruption.is_open):
        raise BillingError("Le délai de paiement est interrompu : enregistrez d'abord la date de "
                           "réception des pièces demandées, puis acceptez la facture.")
    if target == InvoiceStatus.REJECTED and invoice.reconciliations:
        raise BillingError("Des paiements sont déjà lettrés sur cette facture : corrigez par un avoir.")
    before = invoice.status
    invoice.status = target
    invoice.decision_comment = reason or invoice.decision_comment
    invoice.decided_at, invoice.decided_by_id = utcnow(), getattr(user, "id", None)
    try:
        db.session.flush()
    except StaleDataError:
        raise BillingError("Cette facture a été traitée par un autre utilisateur entre-temps.") from None
    label = {"accept": "acceptée", "reject": "rejetée"}[action]
    record("billing.invoice_" + action, invoice, user=user,
           summary=f"Facture {invoice.number} {label}" + (f" : {reason}" if reason else ""),
           changes={"status": [before, target]})
    notify(kind=f"billing.invoice_{action}", lot_id=invoice.lot_id, audience="mandataire",
           subject=f"Facture {invoice.number} {label}",
           body=(f"Décision de France compétences sur la facture {invoice.number} : {label}"
                 + (f". Motif : {reason}" if reason else ".")),
           link=f"/factures/{invoice.id}", dedup_key=f"billing.invoice_{action}:{invoice.id}")
    return invoice


# ------------------------------------------------------------ payment clock

class FieldError(BillingError):
    """A refusal tied to one form field (``field`` names it) so the page shows it there."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field


def payment_ordered(invoice):
    """True once the expense is ordered for payment: in fc_market, once finance accepted the
    invoice (it goes to the accounting system to be paid) or any payment is lettered."""
    return invoice.status == InvoiceStatus.ACCEPTED or bool(invoice.reconciliations)


def set_receipt_date(invoice, user, received_on, *, today=None):
    """Finance enters the real receipt of the payment request (its Chorus Pro deposit date):
    the payment clock runs from it (:attr:`Invoice.receipt_date`).

    Allowed while the invoice awaits its decision and no payment is lettered; never in the
    future, never before the invoice date, never after a notified interruption.  The invoice
    as recorded (with the receipt it declared) stays frozen: this is a separate fact.
    """
    today = today or date.today()
    invoice = _lock_invoice(invoice.id)
    if invoice.kind != "invoice":
        raise BillingError("La date de réception d'un avoir ne fait courir aucun délai.")
    if invoice.status != InvoiceStatus.RECEIVED or invoice.reconciliations:
        raise BillingError(f"La facture {invoice.number} est déjà {invoice.status_label.lower()} : "
                           "sa date de réception ne se modifie plus.")
    if received_on is None:
        raise FieldError("received_on", "Indiquez la date de dépôt de la facture sur Chorus Pro.")
    if received_on > today:
        raise FieldError("received_on", f"La date de réception ({fmt_day(received_on)}) est dans "
                         "le futur.")
    if received_on < invoice.issued_on:
        raise FieldError("received_on", f"La date de réception ({fmt_day(received_on)}) précède la "
                         f"date de la facture ({fmt_day(invoice.issued_on)}).")
    if invoice.interruption is not None and received_on > invoice.interruption.notified_on:
        raise FieldError("received_on", "La date de réception ne peut pas suivre la notification "
                         f"de l'interruption du délai ({fmt_day(invoice.interruption.notified_on)}).")
    before = invoice.receipt_date
    invoice.chorus_received_on = received_on
    invoice.receipt_entered_at, invoice.receipt_entered_by_id = utcnow(), getattr(user, "id", None)
    db.session.flush()
    record("billing.invoice_receipt", invoice, user=user, summary=(
        f"Facture {invoice.number} : date de réception (dépôt Chorus Pro) {fmt_day(received_on)}"
        + (f", au lieu du {fmt_day(before)}" if before != received_on else "") + "."),
        changes={"receipt_date": [before.isoformat(), received_on.isoformat()]})
    return invoice


def interrupt(invoice, user, *, notified_on, reasons, documents_expected, today=None):
    """Interrupt the payment term of ``invoice`` (CCP R. 2192-27): once, before the payment
    is ordered, while the term still runs; notified to the mandataire."""
    today = today or date.today()
    invoice = _lock_invoice(invoice.id)
    if invoice.kind != "invoice":
        raise BillingError("Un avoir n'a pas de délai de paiement à interrompre.")
    if invoice.status == InvoiceStatus.REJECTED:
        raise BillingError(f"La facture {invoice.number} est rejetée : son délai ne court plus.")
    if (1 if invoice.interruption is not None else 0) >= interest.MAX_INTERRUPTIONS:
        raise BillingError(f"Le délai de paiement de la facture {invoice.number} a déjà été "
                           f"interrompu le {fmt_day(invoice.interruption.notified_on)} : il ne "
                           "peut l'être qu'une fois (art. R. 2192-27 du code de la commande "
                           "publique).")
    if payment_ordered(invoice):
        raise BillingError(f"La facture {invoice.number} est déjà mise en paiement : son délai ne "
                           "peut plus être interrompu (art. R. 2192-27).")
    reasons = (reasons or "").strip()
    documents_expected = (documents_expected or "").strip()
    if notified_on is None:
        raise FieldError("notified_on", "Indiquez la date de réception de la notification par "
                         "le mandataire.")
    if notified_on > today:
        raise FieldError("notified_on", f"La date de notification ({fmt_day(notified_on)}) est "
                         "dans le futur.")
    if notified_on < invoice.receipt_date:
        raise FieldError("notified_on", f"La notification ({fmt_day(notified_on)}) précède la "
                         f"réception de la facture ({fmt_day(invoice.receipt_date)}).")
    term = payment_term_days(invoice)
    if interest.interruption_balance(invoice.receipt_date, notified_on, term) < 0:
        expired = invoice.receipt_date + timedelta(days=term)
        raise FieldError("notified_on", f"Le délai de paiement a expiré le {fmt_day(expired)} : "
                         "il ne peut plus être interrompu.")
    if not reasons:
        raise FieldError("reasons", "Indiquez les motifs de l'interruption.")
    if not documents_expected:
        raise FieldError("documents_expected", "Indiquez les pièces ou mentions à fournir.")
    row = InvoiceInterruption(invoice_id=invoice.id, notified_on=notified_on, reasons=reasons,
                              documents_expected=documents_expected,
                              recorded_by_id=getattr(user, "id", None))
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise BillingError(f"Le délai de la facture {invoice.number} vient d'être interrompu par "
                           "quelqu'un d'autre.") from None
    invoice.interruption = row
    balance = interest.interruption_balance(invoice.receipt_date, notified_on, term)
    record("billing.invoice_interrupted", invoice, user=user, summary=(
        f"Délai de paiement de la facture {invoice.number} interrompu (notifié le "
        f"{fmt_day(notified_on)}, solde {balance} j) : {reasons} — pièces attendues : "
        f"{documents_expected}"))
    notify(kind="billing.invoice_interrupted", lot_id=invoice.lot_id, audience="mandataire",
           subject=f"Facture {invoice.number} : délai de paiement interrompu",
           body=(f"France compétences interrompt le délai de paiement de la facture {invoice.number} "
                 f"(art. R. 2192-27 du code de la commande publique). Motifs : {reasons}. Pièces à "
                 f"fournir : {documents_expected}. Un nouveau délai de paiement court à compter de "
                 "la réception de toutes les pièces."),
           link=f"/factures/{invoice.id}", dedup_key=f"billing.invoice_interrupted:{invoice.id}")
    return row


def add_interruption_document(invoice, user, file, *, comment=None):
    """The mandataire supplies a document asked for by the interruption (PDF or image)."""
    from fc_market import storage
    row = invoice.interruption
    if row is None:
        raise BillingError("Le délai de paiement de cette facture n'est pas interrompu : aucune "
                           "pièce n'est attendue.")
    if not row.is_open:
        raise BillingError(f"Les pièces ont été reçues le {fmt_day(row.documents_received_on)} : "
                           "l'interruption est close.")
    if not file or not file[1]:
        raise FieldError("file", "Joignez la pièce demandée (PDF, PNG ou JPEG).")
    key, mimetype, digest, display = storage.store(file[1], file[0])
    doc = InterruptionDocument(interruption_id=row.id, file_key=key, file_mimetype=mimetype,
                               file_sha256=digest, file_name=display,
                               comment=(comment or "").strip()[:500] or None,
                               uploaded_by_id=getattr(user, "id", None))
    db.session.add(doc)
    db.session.flush()
    record("billing.interruption_document", invoice, user=user, summary=(
        f"Pièce « {display} » fournie pour l'interruption du délai de la facture {invoice.number}."))
    notify(kind="billing.interruption_document", audience="fc", role="finance", lot_id=invoice.lot_id,
           subject=f"Facture {invoice.number} : pièce fournie",
           body=f"Le mandataire a déposé « {display} » en réponse à l'interruption du délai.",
           link=f"/factures/{invoice.id}", dedup_key=f"billing.interruption_document:{doc.id}")
    return doc


def record_documents_received(invoice, user, received_on, *, today=None):
    """Finance records the day the last missing document was received: a new term opens
    (R. 2192-28 and R. 2192-29)."""
    today = today or date.today()
    invoice = _lock_invoice(invoice.id)
    row = invoice.interruption
    if row is None:
        raise BillingError("Le délai de paiement de cette facture n'est pas interrompu.")
    if not row.is_open:
        raise BillingError(f"La réception des pièces est déjà enregistrée au "
                           f"{fmt_day(row.documents_received_on)}.")
    if received_on is None:
        raise FieldError("documents_received_on", "Indiquez la date de réception de la dernière pièce.")
    if received_on > today:
        raise FieldError("documents_received_on", f"La date de réception des pièces "
                         f"({fmt_day(received_on)}) est dans le futur.")
    if received_on < row.notified_on:
        raise FieldError("documents_received_on", f"La date de réception des pièces "
                         f"({fmt_day(received_on)}) précède la notification de l'interruption "
                         f"({fmt_day(row.notified_on)}).")
    row.documents_received_on = received_on
    row.closed_at, row.closed_by_id = utcnow(), getattr(user, "id", None)
    db.session.flush()
    clock = payment_clock(invoice, today)
    record("billing.interruption_closed", invoice, user=user, summary=(
        f"Facture {invoice.number} : pièces reçues le {fmt_day(received_on)} ; nouveau délai de "
        f"{clock.current_term_days} j, échéance le {fmt_day(clock.due_on)}."))
    notify(kind="billing.interruption_closed", lot_id=invoice.lot_id, audience="mandataire",
           subject=f"Facture {invoice.number} : nouveau délai de paiement",
           body=(f"Pièces reçues le {fmt_day(received_on)} : un nouveau délai de paiement de "
                 f"{clock.current_term_days} jours court, jusqu'au {fmt_day(clock.due_on)}."),
           link=f"/factures/{invoice.id}", dedup_key=f"billing.interruption_closed:{invoice.id}")
    return row


# ----------------------------------------------------------------- payments

def credited(invoice):
    return sum((n.amount_incl_tax for n in invoice.credit_notes if n.status != InvoiceStatus.REJECTED),
               ZERO)


def not_certified(invoice):
    """What the invoice claims beyond the certified payable amount of its statement (TTC
    less penalties deducted): FC does not owe it.  Zero when the invoice asks no more."""
    if invoice.kind != "invoice" or invoice.status == InvoiceStatus.REJECTED:
        return ZERO
    claimed = invoice.amount_incl_tax - invoice.deductions
    return max(claimed - max(invoice.statement.amount_payable, ZERO), ZERO)


def amount_due(invoice):
    """What FC owes on an invoice ("Montant dû"): the certified payable amount of its
    statement (never more than the invoice claims), less its credit notes."""
    if invoice.kind != "invoice" or invoice.status == InvoiceStatus.REJECTED:
        return ZERO
    claimed = invoice.amount_incl_tax - invoice.deductions - not_certified(invoice)
    return max(claimed - credited(invoice), ZERO)


def paid(invoice):
    return sum((r.amount for r in invoice.reconciliations), ZERO)


def outstanding(invoice):
    return max(amount_due(invoice) - paid(invoice), ZERO)


def _fingerprint(invoice_number, paid_on, amount, reference):
    import hashlib
    text = "\x1f".join([(invoice_number or "").strip().upper(), paid_on.isoformat(),
                        str(D(amount).quantize(Decimal("0.01"))), (reference or "").strip().upper()])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find_invoice(number, lot_id=None):
    stmt = sa.select(Invoice).where(sa.func.upper(Invoice.number) == (number or "").strip().upper(),
                                    Invoice.kind == "invoice")
    if lot_id is not None:
        stmt = stmt.where(Invoice.lot_id == lot_id)
    found = db.session.scalars(stmt).all()
    return found


def _reconcile(payment, invoice, user=None):
    locked = db.session.scalar(sa.select(Invoice).where(Invoice.id == invoice.id)
                               .with_for_update().execution_options(populate_existing=True))
    amount = min(payment.amount, outstanding(locked))
    if amount > 0:
        db.session.add(Reconciliation(payment=payment, invoice=locked, amount=amount,
                                      created_by_id=getattr(user, "id", None)))
    return amount


def record_payment(invoice, user=None, *, paid_on, amount, reference=None, source="manual",
                   import_id=None, today=None):
    """Record a payment of an invoice and reconcile it (partial payments allowed)."""
    today = today or date.today()
    amount = _amount(amount, "Montant payé")
    if amount <= 0:
        raise BillingError("Le montant payé doit être positif.")
    if paid_on is None or paid_on > today:
        raise BillingError("Date de paiement manquante ou dans le futur.")
    if invoice.kind != "invoice":
        raise BillingError("Un avoir ne se paie pas.")
    if invoice.status == InvoiceStatus.REJECTED:
        raise BillingError(f"La facture {invoice.number} est rejetée : elle ne se paie pas.")
    if paid_on < invoice.receipt_date:
        raise BillingError("Paiement antérieur à la réception de la facture.")
    reference = (reference or "").strip()[:60] or None
    fingerprint = _fingerprint(invoice.number, paid_on, amount, reference)
    if db.session.scalar(sa.select(Payment.id).where(Payment.fingerprint == fingerprint)):
        raise BillingError("Ce paiement (même facture, date, montant et référence) est déjà enregistré.")
    payment = Payment(lot_id=invoice.lot_id, paid_on=paid_on, amount=amount, reference=reference,
                      invoice_number=invoice.number, source=source, import_id=import_id,
                      fingerprint=fingerprint, recorded_by_id=getattr(user, "id", None))
    db.session.add(payment)
    db.session.flush()
    lettered = _reconcile(payment, invoice, user)
    record("billing.payment", payment, user=user, summary=(
        f"Paiement de {money_fr(amount)} le {fmt_day(paid_on)} sur la facture {invoice.number}"
        + (f" (réf. {reference})" if reference else "") + f", lettré {money_fr(lettered)}."))
    return payment


def record_payment_by_number(number, user=None, *, lot_id=None, **kwargs):
    found = find_invoice(number, lot_id)
    if not found:
        raise BillingError(f"Aucune facture n° « {number} ».")
    if len(found) > 1:
        raise BillingError(f"Plusieurs lots ont une facture n° « {number} » : précisez le lot.")
    return record_payment(found[0], user, **kwargs)


# ----------------------------------------------------------- late payment

def settled_on(invoice):
    """Day the invoice was paid in full (its last lettered payment), None while owed."""
    if outstanding(invoice) > 0 or not invoice.reconciliations:
        return None
    return max(r.payment.paid_on for r in invoice.reconciliations)


def payment_term_days(invoice):
    """The contract's payment term for an invoice (R. 2192-10: at most 30 days for FC),
    read through the contract terms in force on its receipt."""
    return lot_terms(invoice.lot, invoice.receipt_date).payment_term_days


def payment_clock(invoice, as_of=None):
    """THE payment clock of an invoice (CCP R. 2192-10, R. 2192-27 to R. 2192-29), read on
    ``as_of``: every screen, export, job and the interest read the due date, the payment
    delay and the lateness from here.  ``None`` for a credit note or a rejected invoice."""
    as_of = as_of or date.today()
    if invoice.kind != "invoice" or invoice.status == InvoiceStatus.REJECTED:
        return None
    paid_on = settled_on(invoice)
    if paid_on is None and amount_due(invoice) <= 0:
        return None  # fully credited: nothing to pay
    if paid_on is not None and paid_on > as_of:
        paid_on = None  # read before the payment: still owed on that day
    row = invoice.interruption
    interruption = (interest.Interruption(row.notified_on, row.documents_received_on)
                    if row is not None else None)
    return interest.payment_clock(invoice.receipt_date, payment_term_days(invoice),
                                  interruption, paid_on=paid_on,
                                  as_of=max(as_of, invoice.receipt_date))


def due_on(invoice, as_of=None):
    """Due date of an invoice (None while the documents of an interruption are awaited)."""
    clock = payment_clock(invoice, as_of)
    return clock.due_on if clock else None


def late_interest(invoice, as_of=None, rates=None):
    """Moratorium interest and indemnity of an invoice as of a date (None when nothing is due
    or no due date runs yet).  Payments after ``as_of`` are not counted.  ``rates``: the ECB
    rates (:func:`ecb_rates`), when the caller reads many invoices."""
    as_of = as_of or date.today()
    due = amount_due(invoice)
    if due <= 0:
        return None
    clock = payment_clock(invoice, as_of)
    if clock is None or clock.due_on is None:
        return None
    payments, cumulated = [], ZERO
    for r in sorted(invoice.reconciliations, key=lambda r: (r.payment.paid_on, r.id)):
        if r.payment.paid_on > as_of:
            continue
        # a credit note recorded after a payment lowers what was due: cap what bears interest
        part = min(r.amount, due - cumulated)
        if part > 0:
            payments.append((r.payment.paid_on, part))
            cumulated += part
    try:
        return interest.invoice_interest(due, clock.due_on, payments,
                                         ecb_rates() if rates is None else rates, as_of=as_of)
    except ValueError as exc:
        log.warning("interest for invoice %s: %s", invoice.id, exc)
        return None


def interest_deadline(result):
    """Last day to pay the interest of a result of :func:`late_interest` (R. 2192-36): 45
    days from the payment of the principal; None while the principal is not paid in full."""
    if result is None or result.unpaid or not result.portions:
        return None
    return interest.interest_deadline(max(p.paid_on for p in result.portions))


def payable_invoices_query():
    """The invoices FC may owe money or interest on (not credit notes, not rejected), with
    what their figures read, oldest receipt first."""
    return (sa.select(Invoice).where(Invoice.kind == "invoice", Invoice.status != InvoiceStatus.REJECTED)
            .options(sa.orm.selectinload(Invoice.reconciliations).selectinload(Reconciliation.payment),
                     sa.orm.selectinload(Invoice.credit_notes),
                     sa.orm.selectinload(Invoice.interruption),
                     sa.orm.joinedload(Invoice.statement).defer(PayableStatement.snapshot),
                     sa.orm.selectinload(Invoice.lot).selectinload(Lot.contract),
                     sa.orm.defer(Invoice.invoiced_lines))
            .order_by(Invoice.received_on))


def maybe_owed(lot_ids=None):
    """``(unpaid, late)``: ids of the invoices of :func:`payable_invoices_query` that may
    still be owed something (less lettered than claimed net of deductions: every invoice
    with :func:`outstanding` above zero is there, as FC never owes more than that), and of
    those that may have been paid late on any day (owed, or a payment after the receipt
    plus the payment term: an interruption only pushes the due date back).  Read from
    sums, before loading every invoice with its payments; the callers decide on these."""
    paid = (sa.select(Reconciliation.invoice_id, sa.func.sum(Reconciliation.amount).label("paid"),
                      sa.func.max(Payment.paid_on).label("last"))
            .join(Payment, Payment.id == Reconciliation.payment_id)
            .group_by(Reconciliation.invoice_id).subquery())
    stmt = (sa.select(Invoice.id, Invoice.lot_id, Invoice.amount_incl_tax, Invoice.deductions,
                      Invoice.chorus_received_on, Invoice.received_on, paid.c.paid, paid.c.last)
            .outerjoin(paid, paid.c.invoice_id == Invoice.id)
            .where(Invoice.kind == "invoice", Invoice.status != InvoiceStatus.REJECTED))
    if lot_ids is not None:
        stmt = stmt.where(Invoice.lot_id.in_(lot_ids))
    rows = db.session.execute(stmt).all()
    lots = {lot.id: lot for lot in db.session.scalars(
        sa.select(Lot).where(Lot.id.in_({row.lot_id for row in rows}))
        .options(sa.orm.selectinload(Lot.contract)))}
    unpaid, late = set(), set()
    for inv_id, lot_id, incl, deductions, chorus, received, lettered, last in rows:
        if (lettered or ZERO) < incl - deductions:
            unpaid.add(inv_id)
            late.add(inv_id)
        elif last is not None and last > (chorus or received) + timedelta(
                days=lot_terms(lots[lot_id], chorus or received).payment_term_days):
            late.add(inv_id)
    return unpaid, late


def interest_owed(as_of=None, lot_ids=None, *, invoices=None):
    """[(invoice, result)] for every late invoice (paid late or unpaid past due) whose
    interest has not been settled yet.  *invoices*: the rows of
    :func:`payable_invoices_query` when the caller has read them already (with their
    ``interest_settlement``), instead of reading them again; else only those
    :func:`maybe_owed` finds possibly late are read."""
    as_of = as_of or date.today()
    if invoices is None:
        _, late = maybe_owed(lot_ids)
        stmt = payable_invoices_query().where(~Invoice.interest_settlement.has(),
                                              Invoice.id.in_(sorted(late)))
        if lot_ids is not None:
            stmt = stmt.where(Invoice.lot_id.in_(lot_ids))
        invoices = db.session.scalars(stmt)
    else:
        invoices = [i for i in invoices if i.interest_settlement is None
                    and (lot_ids is None or i.lot_id in lot_ids)]
    out = []
    rates = ecb_rates()
    for invoice in invoices:
        if invoice.receipt_date + timedelta(days=payment_term_days(invoice)) >= as_of:
            continue  # cannot be late yet (an interruption only pushes the due date back)
        result = late_interest(invoice, as_of, rates)
        if result is not None and result.late:
            out.append((invoice, result))
    return out


def settle_interest(invoice, user=None, *, paid_on, reference=None, today=None):
    """Record that FC paid the moratorium interest and the flat indemnity of ``invoice``.

    Only once the invoice is paid in full (until then the interest still runs); the
    amounts are those computed, frozen with their calculation.  Once per invoice."""
    today = today or date.today()
    if invoice.kind != "invoice":
        raise BillingError("Un avoir ne porte pas d'intérêts moratoires.")
    if invoice.interest_settlement is not None:
        done = invoice.interest_settlement
        raise BillingError(f"Les intérêts de la facture {invoice.number} sont déjà réglés "
                           f"(le {fmt_day(done.paid_on)}, {money_fr(done.total)}).")
    if paid_on is None or paid_on > today:
        raise BillingError("Date de paiement des intérêts manquante ou dans le futur.")
    owed = late_interest(invoice, today)
    if owed is None or not owed.late:
        raise BillingError(f"La facture {invoice.number} n'a pas été payée en retard : ni intérêts "
                           "moratoires ni indemnité ne sont dus.")
    if owed.unpaid:
        raise BillingError(f"La facture {invoice.number} n'est pas soldée (reste "
                           f"{money_fr(owed.unpaid)}) : les intérêts courent encore. Enregistrez "
                           "d'abord le paiement du principal.")
    last_paid = max(p.paid_on for p in owed.portions)
    if paid_on < last_paid:
        raise BillingError(f"Les intérêts ne peuvent pas être payés avant le solde de la facture "
                           f"(le {fmt_day(last_paid)}).")
    reference = (reference or "").strip()[:60] or None
    settlement = InterestSettlement(invoice_id=invoice.id, paid_on=paid_on, interest=owed.interest,
                                    indemnity=owed.flat_indemnity, reference=reference,
                                    explanation=owed.explanation,
                                    recorded_by_id=getattr(user, "id", None))
    try:
        with db.session.begin_nested():
            db.session.add(settlement)
    except IntegrityError:
        raise BillingError(f"Les intérêts de la facture {invoice.number} viennent d'être réglés "
                           "par quelqu'un d'autre : rien n'a été enregistré deux fois.") from None
    record("billing.interest_settlement", invoice, user=user, summary=(
        f"Intérêts moratoires de la facture {invoice.number} réglés le {fmt_day(paid_on)} : "
        f"{money_fr(owed.interest)} d'intérêts + {money_fr(owed.flat_indemnity)} d'indemnité"
        + (f" (réf. {reference})" if reference else "") + "."),
        changes={"paid_on": paid_on.isoformat(), "interest": str(owed.interest),
                 "indemnity": str(owed.flat_indemnity), "reference": reference})
    return settlement


def interest_settled(lot_ids=None):
    """Settlements of moratorium interest, newest first."""
    stmt = (sa.select(InterestSettlement).join(Invoice)
            .options(sa.orm.contains_eager(InterestSettlement.invoice).joinedload(Invoice.lot))
            .order_by(InterestSettlement.paid_on.desc(), InterestSettlement.id.desc()))
    if lot_ids is not None:
        stmt = stmt.where(Invoice.lot_id.in_(lot_ids))
    return db.session.scalars(stmt).all()


# ----------------------------------------------------------------- dashboard

#: The terms of the finance identity, in the order the screens show them:
#: invoiced − credited − penalties deducted − not certified − paid = outstanding
IDENTITY_TERMS = ("invoiced", "credited", "deducted", "not_certified", "paid", "outstanding")


def invoice_terms(inv):
    """One invoice's terms of the finance identity (TTC):
    ``invoiced − credited − deducted − not_certified − paid = outstanding``.  ``outstanding``
    is signed here (negative: paid beyond what is owed, after a late credit note)."""
    if inv.kind != "invoice" or inv.status == InvoiceStatus.REJECTED:
        return {k: ZERO for k in IDENTITY_TERMS}
    terms = {"invoiced": inv.amount_incl_tax, "credited": credited(inv), "deducted": inv.deductions,
             "not_certified": not_certified(inv), "paid": paid(inv)}
    terms["outstanding"] = (terms["invoiced"] - terms["credited"] - terms["deducted"]
                            - terms["not_certified"] - terms["paid"])
    return terms


def finance_figures(lot_ids, year, as_of=None):
    """THE finance figures of each lot for a year (the dashboard, the lot page, the Excel
    export and ``flask billing figures`` show these): certified, provisional and forecast
    amounts excl. tax from the statements of the year's months, and the identity
    ``invoiced − credited − deducted − not_certified − paid = outstanding`` (TTC) over the
    invoices of those months (rejected ones excluded), with the withholdings and penalties
    of the certified statements (HT) that explain what was certified."""
    as_of = as_of or date.today()
    y = str(year)
    figures = {lot_id: {"certified_year": ZERO, "certified_total": ZERO, "open_year": ZERO,
                        "withholdings": ZERO, "penalties": ZERO, "payable": ZERO,
                        **{k: ZERO for k in IDENTITY_TERMS}, "late": ZERO, "late_count": 0,
                        "invoice_count": 0, "months": set()} for lot_id in lot_ids}
    rows = db.session.execute(
        sa.select(PayableStatement.lot_id, PayableStatement.period, PayableStatement.status,
                  PayableStatement.total_excl_tax, PayableStatement.withholdings,
                  PayableStatement.penalties, PayableStatement.amount_payable)
        .where(PayableStatement.lot_id.in_(lot_ids))).all()
    for lot_id, period, status, excl, withheld, penalties, payable in rows:
        f = figures[lot_id]
        if status == StatementStatus.CERTIFIED:
            f["certified_total"] += excl
            if period.startswith(y):
                f["certified_year"] += excl
                f["withholdings"] += withheld
                f["penalties"] += penalties
                f["payable"] += payable
                f["months"].add(period)
        elif period.startswith(y):
            f["open_year"] += excl
            f["months"].add(period)
    invoices = db.session.scalars(
        sa.select(Invoice).join(PayableStatement, Invoice.statement_id == PayableStatement.id)
        .where(Invoice.lot_id.in_(lot_ids), PayableStatement.period.like(f"{y}-%"),
               Invoice.kind == "invoice", Invoice.status != InvoiceStatus.REJECTED)
        .options(sa.orm.selectinload(Invoice.reconciliations).selectinload(Reconciliation.payment),
                 sa.orm.selectinload(Invoice.credit_notes), sa.orm.selectinload(Invoice.interruption),
                 sa.orm.contains_eager(Invoice.statement).defer(PayableStatement.snapshot),
                 sa.orm.selectinload(Invoice.lot).selectinload(Lot.contract),
                 sa.orm.defer(Invoice.invoiced_lines))).all()
    for inv in invoices:
        f = figures[inv.lot_id]
        terms = invoice_terms(inv)
        for k in IDENTITY_TERMS:
            f[k] += terms[k]
        f["invoice_count"] += 1
        clock = payment_clock(inv, as_of)
        if terms["outstanding"] > 0 and clock is not None and clock.late:
            f["late"] += terms["outstanding"]
            f["late_count"] += 1
    for lot_id, f in figures.items():
        known = f["certified_year"] + f["open_year"]
        months = len(f["months"])
        remaining = 12 - months if year >= as_of.year else 0
        f["forecast"] = known + (mul_cents(known, Decimal(remaining) / Decimal(months))
                                 if months and remaining > 0 else ZERO)
        f["months"] = months
    return figures


def dashboard(lots, year, as_of=None):
    """Rows of the finance dashboard (one per lot) from :func:`finance_figures`."""
    figures = finance_figures([l.id for l in lots], year, as_of)
    rows = []
    for lot in lots:
        f = figures[lot.id]
        max_amount = lot.contract.max_amount if lot.contract else None
        rows.append({"lot": lot, "code": lot.code, "name": lot.name, "year": year,
                     "max_amount": max_amount, "committed": f["certified_total"],
                     "committed_share": (f["certified_total"] / max_amount) if max_amount else None,
                     **{k: v for k, v in f.items() if k != "certified_total"}})
    return rows


def lot_months(lot, year, as_of=None):
    """Drill-down: one row per month of the year with its statements, invoices and payments."""
    as_of = as_of or date.today()
    statements = db.session.scalars(
        sa.select(PayableStatement).where(PayableStatement.lot_id == lot.id,
                                          PayableStatement.period.like(f"{year}-%"))
        .options(sa.orm.selectinload(PayableStatement.invoices)
                 .selectinload(Invoice.reconciliations).selectinload(Reconciliation.payment),
                 sa.orm.selectinload(PayableStatement.invoices).selectinload(Invoice.credit_notes))
        .order_by(PayableStatement.period, PayableStatement.rank)).all()
    rows = []
    for st in statements:
        inv = st.live_invoice
        credit = next((i for i in st.invoices if i.kind == "credit_note"), None)
        rows.append({"statement": st, "period": st.period, "rank": st.rank, "number": st.number,
                     "status": st.status_label, "total_excl_tax": st.total_excl_tax,
                     "amount_payable": st.amount_payable, "invoice": inv or credit,
                     "invoice_number": (inv or credit).number if (inv or credit) else None,
                     "invoice_status": (inv or credit).status_label if (inv or credit) else None,
                     "invoiced": inv.amount_incl_tax if inv else None,
                     "paid": paid(inv) if inv else None,
                     "outstanding": outstanding(inv) if inv else None,
                     **delay_fields(inv, as_of)})
    return rows


def delay_fields(inv, as_of):
    """Due date, payment date, delay and lateness of an invoice for the finance tables, all
    read from :func:`payment_clock`."""
    clock = payment_clock(inv, as_of) if inv is not None else None
    if clock is None:
        return {"clock": None, "due_on": None, "delay_days": None, "delay_running": False,
                "paid_on": None, "late": False, "days_late": 0, "interrupted": False}
    return {"clock": clock, "due_on": clock.due_on, "delay_days": clock.delay_days,
            "delay_running": clock.running, "paid_on": clock.paid_on, "late": clock.late,
            "days_late": clock.days_late, "interrupted": clock.interruption is not None}


def delay_summary(rows, term_days):
    """Mean and longest payment delay (receipt → payment) of the settled invoices of
    ``rows`` (lot_months); ``late``: invoices paid or still owed past their due date."""
    done = [r["delay_days"] for r in rows if r["delay_days"] is not None and not r["delay_running"]]
    return {"count": len(done), "mean": sum(done) / len(done) if done else None,
            "max": max(done, default=None), "late": sum(1 for r in rows if r["late"]),
            "term": term_days}
