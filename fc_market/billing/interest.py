"""Late payment of the operators' invoices: payment term, moratorium interest, flat indemnity.

French public procurement rules (Code de la commande publique, « CCP »):

* payment term: 30 days for the State's public bodies (R. 2192-10), counted in
  **calendar days** from the receipt of the payment request;
* late payment gives rise, by operation of law and from the day after the term
  expires, to moratorium interest (L. 2192-13) and to a flat recovery indemnity of
  40 € per late payment request (D. 2192-35); renouncing them is void (L. 2192-14);
* rate (R. 2192-31): the ECB's rate on its most recent main refinancing operations
  **in force on the first day of the calendar half-year in which the interest
  started to run**, plus 8 percentage points — not the rate in force at the due
  date or at payment;
* interest runs from the day after the due date until the date the principal is
  paid (« mise en paiement ») included, hence ``days_late = paid_on − due_date``;
  it is computed pro rata temporis on a 365-day year:
  ``interest = amount × rate / 100 × days_late / 365``, rounded once to the cent
  half-up (the base is the amount incl. tax of the payment request);
* interest and indemnity are to be paid within 45 days of the principal (R. 2192-36,
  :func:`interest_deadline`); this module does not compute the complementary interest
  owed past that.

The clock (R. 2192-27 to R. 2192-29).  The term runs from the receipt of the payment
request (its deposit date on Chorus Pro).  When the request lacks documents or mentions, or
they are wrong, the buyer may **interrupt** the term once, before the expense is ordered for
payment, by a notification stating the reasons and the documents to supply.  From the
receipt of **all** of them a **new** term opens: thirty days, or the balance left at the
notification if that balance is longer.  Nothing "resumes": the days elapsed
before the interruption are not carried over.  :func:`payment_clock` is the one rule every
screen, export, job and the interest follow.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Iterable, Sequence

from fc_market.money import CENT, D, format_fr, round_fraction

__all__ = [
    "FLAT_INDEMNITY", "DEFAULT_MARGIN", "DEFAULT_TERM_DAYS", "STATUTORY_TERM_DAYS",
    "MAX_INTERRUPTIONS", "NEW_TERM_FLOOR_DAYS", "INTEREST_PAYMENT_DAYS", "YEAR_BASIS",
    "Interruption", "PaymentClock", "interruption_balance", "new_term_days", "payment_clock",
    "interest_deadline", "semester_start", "ecb_rate_on", "moratorium_rate",
    "Payment", "InterestPortion", "MoratoriumInterest", "moratorium_interest", "invoice_interest",
]

#: Flat recovery indemnity per late payment request (CCP D. 2192-35).
FLAT_INDEMNITY = Decimal("40.00")
#: Points added to the ECB rate (CCP R. 2192-31).
DEFAULT_MARGIN = Decimal("8")
#: Longest payment term of the State's public bodies (CCP R. 2192-10); the term applied is
#: the contract's ``payment_term_days``.
STATUTORY_TERM_DAYS = 30
DEFAULT_TERM_DAYS = STATUTORY_TERM_DAYS
#: The term may be interrupted once only, before the expense is ordered (CCP R. 2192-27).
MAX_INTERRUPTIONS = 1
#: New term opened by the receipt of all the missing documents: thirty days, or the balance
#: left at the notification if it is longer (CCP R. 2192-29).
NEW_TERM_FLOOR_DAYS = 30
#: Interest and indemnity are paid within 45 days of paying the principal (CCP R. 2192-36).
INTEREST_PAYMENT_DAYS = 45
YEAR_BASIS = 365
ZERO = Decimal("0.00")


def _d(d: date) -> str:
    return d.strftime("%d/%m/%Y")


# ------------------------------------------------------------------------ clock

@dataclass(frozen=True)
class Interruption:
    """The interruption of a payment term as the clock needs it."""
    #: Day the creditor received the notification of the interruption
    notified_on: date
    #: Day the last of the missing documents was received (None while awaited)
    documents_received_on: date | None = None


@dataclass(frozen=True)
class PaymentClock:
    """Where an invoice stands on the payment clock on a given day."""
    received_on: date
    #: The contract's payment term (days)
    term_days: int
    interruption: Interruption | None
    #: Days of the first term left when the interruption was notified (None without one)
    balance_days: int | None
    #: Length of the term running now: the contract's term, or the new term after an
    #: interruption (None while the documents are awaited)
    current_term_days: int | None
    #: Day the running term started (receipt, or receipt of the missing documents)
    term_started_on: date | None
    #: Last day to pay without being late (None while the documents are awaited)
    due_on: date | None
    #: Day of full payment, or None while something is owed
    paid_on: date | None
    #: The day the clock is read (paid_on when paid)
    end: date
    #: Calendar days from receipt of the request to payment (or to the day read)
    delay_days: int
    #: Days after the due date (0 when on time or while the documents are awaited)
    days_late: int

    @property
    def running(self):
        return self.paid_on is None

    @property
    def late(self):
        return self.days_late > 0

    @property
    def awaiting_documents(self):
        return self.interruption is not None and self.interruption.documents_received_on is None


def interruption_balance(received_on: date, notified_on: date, term_days: int) -> int:
    """Days of the term left when the interruption is notified (R. 2192-29)."""
    return term_days - (notified_on - received_on).days


def new_term_days(balance_days: int, floor_days: int = NEW_TERM_FLOOR_DAYS) -> int:
    """Length of the new term opened by the receipt of the missing documents (R. 2192-29):
    thirty days, or the balance left at the notification if that balance is longer."""
    return max(floor_days, balance_days)


def payment_clock(received_on: date, term_days: int, interruption: Interruption | None = None,
                  paid_on: date | None = None, as_of: date | None = None,
                  new_term_floor_days: int = NEW_TERM_FLOOR_DAYS) -> PaymentClock:
    """The payment clock of one payment request.

    * no interruption: due on ``received_on + term_days``;
    * interrupted on ``notified_on`` (R. 2192-27), documents received on ``r``
      (R. 2192-28): due on ``r + max(30, balance)`` where ``balance = term_days −
      (notified_on − received_on)`` (R. 2192-29); no due date while documents are awaited.

    ``delay_days`` is always the real elapsed time, receipt → payment (or ``as_of`` while
    unpaid); ``days_late`` what lies beyond the due date.

    Worked example (FAC-IDF-202411 of the demo): received 23/12/2024, interrupted on
    28/12/2024 (balance 30 − 5 = 25 days), documents received 09/01/2025: new term
    max(30, 25) = 30 days, due 08/02/2025; paid 11/01/2025: delay 19 days, not late.
    """
    if term_days < 1:
        raise ValueError("délai de paiement invalide")
    end = paid_on or as_of
    if end is None:
        raise ValueError("date de lecture du délai manquante")
    if end < received_on:
        raise ValueError("paiement antérieur à la réception de la demande de paiement")
    balance = current = None
    started, due = received_on, received_on + timedelta(days=term_days)
    current = term_days
    if interruption is not None:
        if interruption.notified_on < received_on:
            raise ValueError("interruption notifiée avant la réception de la demande de paiement")
        balance = interruption_balance(received_on, interruption.notified_on, term_days)
        got = interruption.documents_received_on
        if got is None:
            started = due = current = None
        else:
            if got < interruption.notified_on:
                raise ValueError("pièces reçues avant la notification de l'interruption")
            current = new_term_days(balance, new_term_floor_days)
            started, due = got, got + timedelta(days=current)
    days_late = max((end - due).days, 0) if due is not None else 0
    return PaymentClock(received_on=received_on, term_days=term_days, interruption=interruption,
                        balance_days=balance, current_term_days=current, term_started_on=started,
                        due_on=due, paid_on=paid_on, end=end, delay_days=(end - received_on).days,
                        days_late=days_late)


def interest_deadline(principal_paid_on: date) -> date:
    """Last day to pay the interest and the indemnity (R. 2192-36)."""
    return principal_paid_on + timedelta(days=INTEREST_PAYMENT_DAYS)


# ------------------------------------------------------------------------- rate

def semester_start(d: date) -> date:
    """First day of the calendar half-year of ``d`` (1 January or 1 July)."""
    return date(d.year, 1 if d.month <= 6 else 7, 1)


def ecb_rate_on(day: date, ecb_rates: Sequence[tuple[date, Decimal]]) -> Decimal:
    """ECB main refinancing rate (percent) in force on ``day``: the latest change on or before it."""
    in_force = [(eff, D(rate)) for eff, rate in ecb_rates if eff <= day]
    if not in_force:
        raise ValueError(f"aucun taux BCE connu en vigueur au {_d(day)}")
    return max(in_force, key=lambda pair: pair[0])[1]


def moratorium_rate(interest_start: date, ecb_rates, margin=DEFAULT_MARGIN):
    """``(semester start, ECB rate, rate)`` in percent for interest starting on ``interest_start``."""
    first_day = semester_start(interest_start)
    ecb = ecb_rate_on(first_day, ecb_rates)
    return first_day, ecb, ecb + D(margin)


# --------------------------------------------------------------------- interest

@dataclass(frozen=True)
class Payment:
    paid_on: date
    amount: Decimal

    def __post_init__(self):
        object.__setattr__(self, "amount", D(self.amount))
        if self.amount <= 0:
            raise ValueError("un paiement est strictement positif")


@dataclass(frozen=True)
class InterestPortion:
    amount: Decimal
    #: Date of payment, or None for the unpaid remainder (counted until ``until``)
    paid_on: date | None
    until: date
    days_late: int
    interest: Decimal


@dataclass(frozen=True)
class MoratoriumInterest:
    principal: Decimal
    due_date: date
    #: First day of interest (due date + 1)
    interest_start: date
    #: Rate data; None when nothing was late (no rate needed)
    semester_start: date | None
    ecb_rate: Decimal | None
    margin: Decimal
    rate: Decimal | None
    year_basis: int
    portions: tuple[InterestPortion, ...]
    paid: Decimal
    unpaid: Decimal
    as_of: date | None
    late: bool
    interest: Decimal
    flat_indemnity: Decimal
    total: Decimal
    explanation: str


def _pct(value: Decimal) -> str:
    """A rate as people write it: two decimals, more only when they carry something
    (3,15 ; 12,25 ; 3,125 — never 12,2500)."""
    value = D(value)
    return format_fr(value, max(2, -value.normalize().as_tuple().exponent))


def _portion_interest(amount: Decimal, rate: Decimal, days: int, year_basis: int) -> Decimal:
    exact = Fraction(amount) * Fraction(rate) / 100 * days / year_basis
    return round_fraction(exact, CENT, ROUND_HALF_UP)


def invoice_interest(amount, due_on: date, payments: Iterable[Payment | tuple[date, Decimal]],
                     ecb_rates: Sequence[tuple[date, Decimal]] = (), as_of: date | None = None,
                     margin=DEFAULT_MARGIN, flat_indemnity=FLAT_INDEMNITY,
                     year_basis: int = YEAR_BASIS) -> MoratoriumInterest:
    """Moratorium interest of one invoice paid in one or several payments.

    Each payment bears interest on its own delay (``paid_on − due_on`` days, 0 when
    paid on or before the due date), rounded to the cent half-up portion by
    portion; the total is the sum of the rounded portions.  What is still unpaid
    accrues until ``as_of`` (required when a remainder is left).  All portions share
    the same rate since the interest started to run on the same day (``due_on + 1``).
    The flat indemnity is due once per invoice as soon as any portion is late.
    """
    principal = D(amount)
    if principal <= 0:
        raise ValueError("le montant de la facture doit être positif")
    payments = sorted((p if isinstance(p, Payment) else Payment(*p) for p in payments),
                      key=lambda p: p.paid_on)
    paid = sum((p.amount for p in payments), ZERO)
    if paid > principal:
        raise ValueError(f"paiements ({paid}) supérieurs au montant de la facture ({principal})")
    unpaid = principal - paid
    if unpaid and as_of is None:
        raise ValueError("reste impayé : indiquer la date d'arrêté des intérêts (as_of)")
    if year_basis <= 0:
        raise ValueError("base annuelle invalide")
    margin = D(margin)

    periods = [(p.amount, p.paid_on, p.paid_on) for p in payments]
    if unpaid:
        periods.append((unpaid, None, as_of))
    start = due_on + timedelta(days=1)
    late = any(until > due_on for _, _, until in periods)
    first_day = ecb = rate = None
    if late:
        first_day, ecb, rate = moratorium_rate(start, ecb_rates, margin)

    portions = []
    for portion_amount, paid_on, until in periods:
        days = max((until - due_on).days, 0)
        interest = _portion_interest(portion_amount, rate, days, year_basis) if days else ZERO
        portions.append(InterestPortion(amount=portion_amount, paid_on=paid_on, until=until,
                                        days_late=days, interest=interest))
    interest = sum((p.interest for p in portions), ZERO)
    indemnity = D(flat_indemnity) if late else ZERO

    lines = [f"Montant de la demande de paiement : {format_fr(principal)} € ; "
             f"échéance du délai de paiement : {_d(due_on)}."]
    if late:
        lines.append(
            f"Intérêts moratoires courus à compter du {_d(start)} ; taux BCE en vigueur au "
            f"{_d(first_day)} (premier jour du semestre) : {_pct(ecb)} % + "
            f"{format_fr(margin)} points = {_pct(rate)} %.")
        for p in portions:
            what = f"payé le {_d(p.paid_on)}" if p.paid_on else f"impayé au {_d(p.until)}"
            lines.append(f"{format_fr(p.amount)} € {what} : {format_fr(p.amount)} × "
                         f"{_pct(rate)} % × {p.days_late} / {year_basis} = "
                         f"{format_fr(p.interest)} €.")
        lines.append(f"Indemnité forfaitaire pour frais de recouvrement : "
                     f"{format_fr(indemnity)} €.")
    else:
        lines.append("Aucun retard : ni intérêts moratoires ni indemnité forfaitaire.")

    return MoratoriumInterest(
        principal=principal, due_date=due_on, interest_start=start, semester_start=first_day,
        ecb_rate=ecb, margin=margin, rate=rate, year_basis=year_basis, portions=tuple(portions),
        paid=paid, unpaid=unpaid, as_of=as_of, late=late, interest=interest,
        flat_indemnity=indemnity, total=interest + indemnity, explanation="\n".join(lines),
    )


def moratorium_interest(amount, due_date: date, paid_on: date,
                        ecb_rates: Sequence[tuple[date, Decimal]] = (), margin=DEFAULT_MARGIN,
                        flat_indemnity=FLAT_INDEMNITY,
                        year_basis: int = YEAR_BASIS) -> MoratoriumInterest:
    """Interest and indemnity for ``amount`` due on ``due_date`` and paid in full on ``paid_on``.

    Worked example: 12 000,00 € due on 12/04/2025, paid on 02/05/2025 → 20 days late;
    interest started on 13/04/2025, 1st half-year 2025, ECB rate in force on
    01/01/2025: 3,15 % → 11,15 %; 12 000,00 × 11,15 % × 20 / 365 = 73,3150… → 73,32 €,
    plus 40,00 € of indemnity.
    """
    return invoice_interest(amount, due_date, [Payment(paid_on, D(amount))], ecb_rates,
                            margin=margin, flat_indemnity=flat_indemnity, year_basis=year_basis)
