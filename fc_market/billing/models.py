"""Payable statements (états liquidatifs), invoices, payments, reconciliation and the rates
finance enters (price index values, ECB rates)."""
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fc_market.extensions import db
from fc_market.integrity import StatusEnum, canonical, freeze, freeze_children, status_column
from fc_market.models_base import MONEY, RATE, UNIT_PRICE, utcnow

INDEX = sa.Numeric(12, 4)
#: Amounts of a payable statement, in the order they are hashed
STATEMENT_AMOUNTS = ("subtotal", "penalties", "withholdings", "total_excl_tax", "vat",
                     "total_incl_tax", "penalties_deducted_incl_tax", "amount_payable", "unabsorbed")


class DocumentSequence(db.Model):
    """Gapless numbering per document kind and year (locked row, incremented in the
    transaction that issues the document)."""
    __tablename__ = "document_sequences"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(32))
    year: Mapped[int]
    last_number: Mapped[int] = mapped_column(default=0)

    __table_args__ = (sa.UniqueConstraint("name", "year"),
                      sa.CheckConstraint("last_number >= 0", name="last_number"))


class IndexValue(db.Model):
    """A value of the price revision index (e.g. Syntec), entered by finance."""
    __tablename__ = "index_values"
    id: Mapped[int] = mapped_column(primary_key=True)
    index_name: Mapped[str] = mapped_column(sa.String(80))
    #: Month the value describes (first day of the month)
    reference_month: Mapped[date]
    value: Mapped[Decimal] = mapped_column(INDEX)
    #: Publication date: a value is usable for a revision only once published
    published_on: Mapped[date]
    #: True for made-up values (demo)
    illustrative: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str | None] = mapped_column(sa.String(200))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    __table_args__ = (sa.UniqueConstraint("index_name", "reference_month"),
                      sa.CheckConstraint("value > 0", name="value"))


class EcbRate(db.Model):
    """ECB main refinancing operations rate (percent) from a date, entered by finance."""
    __tablename__ = "ecb_rates"
    id: Mapped[int] = mapped_column(primary_key=True)
    effective_on: Mapped[date] = mapped_column(unique=True)
    #: Percent, e.g. 3.1500
    rate: Mapped[Decimal] = mapped_column(RATE)
    illustrative: Mapped[bool] = mapped_column(default=False)
    source: Mapped[str | None] = mapped_column(sa.String(200))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    __table_args__ = (sa.CheckConstraint("rate > -10 AND rate < 100", name="rate"),)


class StatementStatus(StatusEnum):
    OPEN = "open", "Provisoire"
    CERTIFIED = "certified", "Service fait certifié"

    @classmethod
    def moves(cls):
        return {cls.OPEN: {cls.CERTIFIED}}


class PayableStatement(db.Model):
    """The payable statement of a lot for a month.

    ``rank`` 0 is the statement; ranks 1, 2… are adjusting statements made when the
    month changes after certification (a corrected report, a control closed late).  An
    open statement is recomputed whenever its inputs change; a certified one is frozen.
    An adjusting statement holds the differences with what was certified before, its
    ``snapshot`` the full recomputed statement.
    """
    __tablename__ = "payable_statements"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    period: Mapped[str] = mapped_column(sa.String(7))
    rank: Mapped[int] = mapped_column(default=0)
    status: Mapped[StatementStatus] = status_column(StatementStatus, 12, default=StatementStatus.OPEN)
    #: Gapless number given at certification, e.g. EL-2025-00042
    number: Mapped[str | None] = mapped_column(sa.String(20), unique=True)
    #: Statement this one adjusts (the last certified one of the month)
    adjusts_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payable_statements.id"))
    report_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("report_versions.id"))
    days_late: Mapped[int] = mapped_column(default=0)
    revision_coefficient: Mapped[Decimal] = mapped_column(sa.Numeric(10, 6), default=Decimal("1"))
    index_value_id: Mapped[int | None] = mapped_column(sa.ForeignKey("index_values.id"))
    #: Amounts excl. tax unless named otherwise; deltas for an adjusting statement
    subtotal: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    penalties: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    withholdings: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    total_excl_tax: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    vat_rate: Mapped[Decimal] = mapped_column(RATE, default=Decimal("0.2"))
    vat: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    total_incl_tax: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    #: Penalties deducted from the amount incl. tax (outside the VAT scope)
    penalties_deducted_incl_tax: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    amount_payable: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    unabsorbed: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    #: Full computed statement (all amounts as strings) and the explanations shown
    snapshot: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
    certified_at: Mapped[datetime | None]
    certified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Inalterability proof, set at certification: SHA-256 of the previous certified
    #: statement's hash (same yearly sequence) and of this one's content (see ``hash_fields``)
    inalterable_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: Optimistic lock: two finance officers cannot both certify
    version_counter: Mapped[int] = mapped_column(default=1)

    lot = relationship("Lot")
    lines = relationship("PayableStatementLine", back_populates="statement",
                         order_by="PayableStatementLine.position", cascade="all, delete-orphan")
    adjusts = relationship("PayableStatement", remote_side=[id])
    report_version = relationship("ReportVersion")
    index_value = relationship("IndexValue")
    certified_by = relationship("User")
    invoices = relationship("Invoice", back_populates="statement", order_by="Invoice.id")

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        sa.UniqueConstraint("lot_id", "period", "rank"),
        StatementStatus.check_constraint(),
        sa.CheckConstraint("status = 'open' OR (number IS NOT NULL AND certified_at IS NOT NULL)",
                           name="certified"),
        sa.CheckConstraint("rank >= 0 AND days_late >= 0", name="rank"),
        sa.CheckConstraint("(rank = 0) = (adjusts_id IS NULL)", name="adjusts"),
    )

    @property
    def is_certified(self):
        return self.status == StatementStatus.CERTIFIED

    @property
    def is_adjusting(self):
        return self.rank > 0

    @property
    def status_label(self):
        return StatementStatus.label_of(self.status)

    @property
    def title(self):
        kind = f"État rectificatif n° {self.rank}" if self.rank else "État liquidatif"
        return f"{kind} {self.number or '(provisoire)'}"

    @property
    def live_invoice(self):
        return next((i for i in self.invoices if i.kind == "invoice" and i.status != InvoiceStatus.REJECTED),
                    None)

    def hash_fields(self):
        """(name, canonical text) of what certification freezes, in a fixed order."""
        fields = [("number", self.number), ("lot_id", self.lot_id), ("period", self.period),
                  ("rank", self.rank), ("adjusts", self.adjusts.number if self.adjusts else ""),
                  ("report_version_id", self.report_version_id), ("days_late", self.days_late),
                  ("revision_coefficient", canonical(self.revision_coefficient, 6)),
                  ("index_value_id", self.index_value_id),
                  *((k, canonical(getattr(self, k), 2)) for k in STATEMENT_AMOUNTS),
                  ("vat_rate", canonical(self.vat_rate, 4)), ("snapshot", canonical(self.snapshot)),
                  ("certified_at", canonical(self.certified_at)),
                  ("certified_by_id", self.certified_by_id)]
        for line in sorted(self.lines, key=lambda l: l.position):
            fields.append((f"line{line.position}", "|".join((
                line.kind, line.uo_code, line.label, str(line.quantity),
                canonical(line.unit_price, 4), canonical(line.gross_amount, 2),
                canonical(line.revision_adjustment, 2), canonical(line.amount, 2)))))
        return [(name, canonical(value)) for name, value in fields]


class PayableStatementLine(db.Model):
    __tablename__ = "payable_statement_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    statement_id: Mapped[int] = mapped_column(sa.ForeignKey("payable_statements.id"), index=True)
    position: Mapped[int]
    #: acts or lump_sum
    kind: Mapped[str] = mapped_column(sa.String(10))
    uo_code: Mapped[str] = mapped_column(sa.String(8))
    label: Mapped[str] = mapped_column(sa.String(200))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(UNIT_PRICE)
    gross_amount: Mapped[Decimal] = mapped_column(MONEY)
    revision_adjustment: Mapped[Decimal] = mapped_column(MONEY)
    amount: Mapped[Decimal] = mapped_column(MONEY)

    statement = relationship("PayableStatement", back_populates="lines")

    __table_args__ = (sa.UniqueConstraint("statement_id", "position"),
                      sa.CheckConstraint("kind IN ('acts', 'lump_sum')", name="kind"))


class InvoiceStatus(StatusEnum):
    """Finance's decision on an invoice.  An interruption of the payment term is not a
    status: it is an :class:`InvoiceInterruption` record beside a "received" invoice (the
    former "disputed" status is gone, migration 0011_clock)."""
    RECEIVED = "received", "Reçue, à vérifier"
    ACCEPTED = "accepted", "Acceptée"
    REJECTED = "rejected", "Rejetée"

    @classmethod
    def moves(cls):
        return {cls.RECEIVED: {cls.ACCEPTED, cls.REJECTED}}


class MatchStatus(StatusEnum):
    """Three-way match of an invoice, computed once at recording."""
    MATCHED = "matched", "Conforme"
    MISMATCH = "mismatch", "Écart"


#: What an invoice or credit note freezes when it is recorded (its status moves by
#: InvoiceStatus.moves; decision and dispute notes stay writable)
INVOICE_FROZEN = ("lot_id", "statement_id", "kind", "corrects_id", "number", "issued_on",
                  "received_on", "amount_excl_tax", "vat", "amount_incl_tax", "deductions",
                  "invoiced_lines", "match_status", "file_key", "file_mimetype", "file_sha256",
                  "file_name", "structured_format", "recorded_at", "recorded_by_id", "ledger_year",
                  "ledger_position", "inalterable_hash")


class MatchState:
    """What the three-way match of an invoice reads on screens: a rejected invoice is never
    "Conforme" (its match no longer matters)."""
    MATCHED = "matched"
    MISMATCH = "mismatch"
    REJECTED = "rejected"
    LABELS = {MATCHED: "Conforme", MISMATCH: "Écart", REJECTED: "Sans objet (rejetée)"}

    @classmethod
    def of(cls, invoice):
        if invoice.status == InvoiceStatus.REJECTED:
            return cls.REJECTED
        return cls.MATCHED if invoice.match_status == MatchStatus.MATCHED else cls.MISMATCH


class Invoice(db.Model):
    """The operator's invoice (or credit note) for a payable statement, as recorded by the
    mandataire.  Never edited once recorded: a correction is a credit note (``kind``
    credit_note, ``corrects_id``) or, after a rejection, a new invoice."""
    __tablename__ = "invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    statement_id: Mapped[int] = mapped_column(sa.ForeignKey("payable_statements.id"), index=True)
    #: invoice or credit_note
    kind: Mapped[str] = mapped_column(sa.String(12), default="invoice")
    corrects_id: Mapped[int | None] = mapped_column(sa.ForeignKey("invoices.id"))
    #: The operator's number, unique in the lot
    number: Mapped[str] = mapped_column(sa.String(60))
    issued_on: Mapped[date]
    #: Receipt of the payment request as declared when recorded (by default the upload day);
    #: frozen with the invoice.  The clock runs from :attr:`receipt_date`.
    received_on: Mapped[date]
    #: The real receipt entered by finance: the invoice's Chorus Pro deposit date (None until
    #: entered; never in the future).  Not frozen: finance enters it after recording.
    chorus_received_on: Mapped[date | None]
    #: When and by whom finance entered it
    receipt_entered_at: Mapped[datetime | None]
    receipt_entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    amount_excl_tax: Mapped[Decimal] = mapped_column(MONEY)
    vat: Mapped[Decimal] = mapped_column(MONEY)
    amount_incl_tax: Mapped[Decimal] = mapped_column(MONEY)
    #: Penalties FC deducts from the payment (outside the VAT scope), from the statement
    deductions: Mapped[Decimal] = mapped_column(MONEY, default=Decimal("0"))
    #: {"lines": [{"uo_code", "kind", "amount"}]} as invoiced, when detailed
    invoiced_lines: Mapped[list | None] = mapped_column(sa.JSON)
    #: matched or mismatch (three-way match at recording)
    match_status: Mapped[MatchStatus] = status_column(MatchStatus, 10)
    status: Mapped[InvoiceStatus] = status_column(InvoiceStatus, 10, default=InvoiceStatus.RECEIVED)
    decision_comment: Mapped[str | None] = mapped_column(sa.Text)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    file_key: Mapped[str | None] = mapped_column(sa.String(80), unique=True)
    file_mimetype: Mapped[str | None] = mapped_column(sa.String(40))
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    file_name: Mapped[str | None] = mapped_column(sa.String(200))
    #: factur-x, cii or ubl when the invoice was filed as a structured invoice (EN 16931),
    #: empty when keyed by hand with a plain PDF
    structured_format: Mapped[str | None] = mapped_column(sa.String(10))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: Place in the ledger of received invoices and credit notes (yearly gapless sequence
    #: ``invoice_ledger``) and the inalterability proof chained along it
    ledger_year: Mapped[int | None]
    ledger_position: Mapped[int | None]
    inalterable_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: Optimistic lock; also bumped when a credit note is recorded against the invoice
    version_counter: Mapped[int] = mapped_column(default=1)

    lot = relationship("Lot")
    statement = relationship("PayableStatement", back_populates="invoices")
    corrects = relationship("Invoice", remote_side=[id], back_populates="credit_notes")
    credit_notes = relationship("Invoice", back_populates="corrects", order_by="Invoice.id")
    reconciliations = relationship("Reconciliation", back_populates="invoice",
                                   order_by="Reconciliation.id")
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    decided_by = relationship("User", foreign_keys=[decided_by_id])
    interest_settlement = relationship("InterestSettlement", back_populates="invoice",
                                       uselist=False)
    interruption = relationship("InvoiceInterruption", back_populates="invoice", uselist=False)
    receipt_entered_by = relationship("User", foreign_keys=[receipt_entered_by_id])

    __mapper_args__ = {"version_id_col": version_counter}
    __table_args__ = (
        sa.UniqueConstraint("lot_id", "number"),
        sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name="kind"),
        sa.CheckConstraint("(kind = 'credit_note') = (corrects_id IS NOT NULL)", name="corrects"),
        InvoiceStatus.check_constraint(),
        MatchStatus.check_constraint("match_status", name="match"),
        sa.UniqueConstraint("ledger_year", "ledger_position"),
        sa.CheckConstraint("amount_excl_tax >= 0 AND vat >= 0 AND deductions >= 0", name="amounts"),
        # tolerant: SQLite compares NUMERIC as binary floats (exactness is checked in Python)
        sa.CheckConstraint("abs(amount_incl_tax - amount_excl_tax - vat) < 0.005", name="incl_tax"),
        sa.CheckConstraint("received_on >= issued_on", name="dates"),
        sa.CheckConstraint("chorus_received_on IS NULL OR chorus_received_on >= issued_on",
                           name="chorus_received"),
        sa.CheckConstraint("structured_format IS NULL OR structured_format IN ('factur-x', 'cii', 'ubl')",
                           name="structured_format"),
    )

    #: How the invoice was filed, for screens
    FORMAT_LABELS = {"factur-x": "Factur-X (PDF et XML CII, EN 16931)", "cii": "XML CII (EN 16931)",
                     "ubl": "XML UBL 2.1 (EN 16931)", None: "PDF saisi à la main"}

    @property
    def format_label(self):
        return self.FORMAT_LABELS.get(self.structured_format, self.structured_format)

    @property
    def status_label(self):
        return InvoiceStatus.label_of(self.status)

    @property
    def kind_label(self):
        return "Avoir" if self.kind == "credit_note" else "Facture"

    def hash_fields(self):
        """(name, canonical text) of what recording freezes, in a fixed order."""
        return [(name, canonical(value)) for name, value in (
            ("ledger", f"{self.ledger_year}-{self.ledger_position}"), ("lot_id", self.lot_id),
            ("statement_id", self.statement_id), ("kind", self.kind),
            ("corrects_id", self.corrects_id), ("number", self.number),
            ("issued_on", self.issued_on), ("received_on", self.received_on),
            ("amount_excl_tax", canonical(self.amount_excl_tax, 2)),
            ("vat", canonical(self.vat, 2)), ("amount_incl_tax", canonical(self.amount_incl_tax, 2)),
            ("deductions", canonical(self.deductions, 2)),
            ("invoiced_lines", canonical(self.invoiced_lines)),
            ("match_status", self.match_status), ("file_sha256", self.file_sha256),
            ("structured_format", self.structured_format),
            ("recorded_at", self.recorded_at), ("recorded_by_id", self.recorded_by_id))]

    @property
    def receipt_date(self):
        """Receipt of the payment request, from which the payment clock runs: the Chorus Pro
        deposit date entered by finance, else the receipt declared when recorded."""
        return self.chorus_received_on or self.received_on

    @property
    def match_state(self):
        return MatchState.of(self)

    @property
    def match_label(self):
        return MatchState.LABELS[self.match_state]


class InvoiceInterruption(db.Model):
    """The interruption of an invoice's payment term (CCP R. 2192-27 to R. 2192-29).

    Finance notifies the mandataire (the day it receives the notification is
    ``notified_on``) with the reasons and the documents to supply; the mandataire uploads
    them; finance records the day the last one was received, and a new term opens.  One
    per invoice (unique ``invoice_id``), only before the payment is ordered.
    """
    __tablename__ = "invoice_interruptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), unique=True)
    #: Day the creditor received the notification of the interruption
    notified_on: Mapped[date]
    #: Why the request is incomplete or wrong
    reasons: Mapped[str] = mapped_column(sa.Text)
    #: Documents or mentions the creditor must supply
    documents_expected: Mapped[str] = mapped_column(sa.Text)
    #: Day the last missing document was received: the new term starts here
    documents_received_on: Mapped[date | None]
    #: Migrated from the former dispute ("suspension") of the invoice (migration 0011)
    from_dispute: Mapped[bool] = mapped_column(default=False)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    invoice = relationship("Invoice", back_populates="interruption")
    documents = relationship("InterruptionDocument", back_populates="interruption",
                             order_by="InterruptionDocument.id")
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])
    closed_by = relationship("User", foreign_keys=[closed_by_id])

    __table_args__ = (
        sa.CheckConstraint("documents_received_on IS NULL OR documents_received_on >= notified_on",
                           name="dates"),
    )

    @property
    def is_open(self):
        return self.documents_received_on is None


class InterruptionDocument(db.Model):
    """A document the mandataire supplied in answer to an interruption (checked storage)."""
    __tablename__ = "interruption_documents"
    id: Mapped[int] = mapped_column(primary_key=True)
    interruption_id: Mapped[int] = mapped_column(sa.ForeignKey("invoice_interruptions.id"),
                                                 index=True)
    file_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    file_mimetype: Mapped[str] = mapped_column(sa.String(40))
    file_sha256: Mapped[str] = mapped_column(sa.String(64))
    file_name: Mapped[str] = mapped_column(sa.String(200))
    comment: Mapped[str | None] = mapped_column(sa.String(500))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    interruption = relationship("InvoiceInterruption", back_populates="documents")
    uploaded_by = relationship("User")


class PaymentImport(db.Model):
    """One import of the accounting system's export, with its report."""
    __tablename__ = "payment_imports"
    id: Mapped[int] = mapped_column(primary_key=True)
    file_name: Mapped[str] = mapped_column(sa.String(200))
    file_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    lines_read: Mapped[int] = mapped_column(default=0)
    added: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    unmatched: Mapped[int] = mapped_column(default=0)
    #: [{"row", "invoice_number", "date", "amount", "reference", "reason"}]
    report: Mapped[list] = mapped_column(sa.JSON, default=list)

    imported_by = relationship("User")

    @property
    def unmatched_lines(self):
        """The report's lines with their date and amount typed back (stored as JSON text)."""
        return [{**line, "date": date.fromisoformat(line["date"]) if line.get("date") else None,
                 "amount": Decimal(line["amount"]) if line.get("amount") else None}
                for line in self.report or []]


class Payment(db.Model):
    """Money paid by FC, by hand or from an import; linked to invoices by reconciliations."""
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(sa.ForeignKey("lots.id"), index=True)
    paid_on: Mapped[date]
    amount: Mapped[Decimal] = mapped_column(MONEY)
    #: Accounting reference (mandate number…)
    reference: Mapped[str | None] = mapped_column(sa.String(60))
    #: Invoice number as written in the accounting line
    invoice_number: Mapped[str | None] = mapped_column(sa.String(60))
    #: manual or import
    source: Mapped[str] = mapped_column(sa.String(8), default="manual")
    import_id: Mapped[int | None] = mapped_column(sa.ForeignKey("payment_imports.id"))
    #: SHA-256 of the normalised line: the same line imported twice is refused
    fingerprint: Mapped[str] = mapped_column(sa.String(64), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    lot = relationship("Lot")
    reconciliations = relationship("Reconciliation", back_populates="payment",
                                   order_by="Reconciliation.id")

    __table_args__ = (sa.CheckConstraint("amount > 0", name="amount"),
                      sa.CheckConstraint("source IN ('manual', 'import')", name="source"))

    @property
    def reconciled(self):
        return sum((r.amount for r in self.reconciliations), Decimal("0.00"))


class Reconciliation(db.Model):
    """Links a payment to an invoice for an amount (partial payments are several records)."""
    __tablename__ = "reconciliations"
    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(sa.ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    payment = relationship("Payment", back_populates="reconciliations")
    invoice = relationship("Invoice", back_populates="reconciliations")

    __table_args__ = (sa.UniqueConstraint("payment_id", "invoice_id"),
                      sa.CheckConstraint("amount > 0", name="amount"))


class InterestSettlement(db.Model):
    """Payment by FC of the moratorium interest and flat indemnity of an invoice paid late,
    recorded by finance once the invoice is paid in full (the interest no longer runs): the
    amounts and the calculation are frozen with it, and the invoice leaves the list of what
    is owed."""
    __tablename__ = "interest_settlements"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(sa.ForeignKey("invoices.id"), unique=True)
    paid_on: Mapped[date]
    interest: Mapped[Decimal] = mapped_column(MONEY)
    indemnity: Mapped[Decimal] = mapped_column(MONEY)
    #: Accounting reference (mandate number…)
    reference: Mapped[str | None] = mapped_column(sa.String(60))
    #: The calculation as shown when it was recorded
    explanation: Mapped[str] = mapped_column(sa.Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    invoice = relationship("Invoice", back_populates="interest_settlement")
    recorded_by = relationship("User")

    __table_args__ = (sa.CheckConstraint("interest >= 0", name="interest"),
                      sa.CheckConstraint("indemnity >= 0", name="indemnity"),
                      sa.CheckConstraint("interest + indemnity > 0", name="total"))

    @property
    def total(self):
        return self.interest + self.indemnity


# ---------------------------------------------------------------- what stays as certified

def _certified(statement, old):
    return old("status") == StatementStatus.CERTIFIED


freeze(PayableStatement, when=_certified, describe=lambda s: f"L'état {s.number or s.id}")
freeze_children(PayableStatementLine, PayableStatement,
                lambda session, line: line.statement or session.get(PayableStatement,
                                                                    line.statement_id),
                "ses lignes")
freeze(Invoice, when=lambda invoice, old: True, frozen=INVOICE_FROZEN,
       describe=lambda i: ("L'avoir " if i.kind == "credit_note" else "La facture ") + i.number)
freeze(InterestSettlement, when=lambda settlement, old: True,
       describe=lambda s: f"Le règlement des intérêts n° {s.id}")
