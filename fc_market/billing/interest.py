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
* interest and indemnity are to be paid within 45 days of the principal (R. 2192-36);
  this module does not compute the complementary interest owed past that.

Suspensions.  :func:`payment_delay_days` and :func:`due_date` take a list of
``(start, end)`` periods during which the clock is stopped: days from ``start``
included to ``end`` excluded do not count (``end`` = the day the missing documents
arrive, when the clock starts again).  That is a *suspension* (the balance of the
term resumes), the rule of the former decrees and of some contracts.  The CCP now
organises an *interruption* instead (R. 2192-27 to R. 2192-29: once only, before
ordering the expense; once everything is received a **new** period of 30 days opens,
or the balance if it is longer): use :func:`due_date_after_interruption` for it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Iterable, Sequence

from fc_market.money import CENT, D, format_fr, round_fraction

__all__ = [
    "FLAT_INDEMNITY", "DEFAULT_MARGIN", "DEFAULT_TERM_DAYS", "YEAR_BASIS",
    "merge_periods", "suspended_days", "payment_delay_days", "due_date",
    "due_date_after_interruption", "semester_start", "ecb_rate_on", "moratorium_rate",
    "Payment", "InterestPortion", "MoratoriumInterest", "moratorium_interest", "invoice_interest",
]

#: Flat recovery indemnity per late payment request (CCP D. 2192-35).
FLAT_INDEMNITY = Decimal("40.00")
#: Points added to the ECB rate (CCP R. 2192-31).
DEFAULT_MARGIN = Decimal("8")
DEFAULT_TERM_DAYS = 30
YEAR_BASIS = 365
ZERO = Decimal("0.00")


def _d(d: date) -> str:
    return d.strftime("%d/%m/%Y")


# ----------------------------------------------------------------------- delays

def merge_periods(periods: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """Sorted, non-overlapping ``[start, end)`` periods (overlaps counted once)."""
    cleaned = []
    for start, end in periods:
        if end < start:
            raise ValueError(f"période de suspension inversée : {start} → {end}")
        if end > start:
            cleaned.append((start, end))
    cleaned.sort()
    merged: list[tuple[date, date]] = []
    for start, end in cleaned:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def suspended_days(suspensions, start: date, end: date) -> int:
    """Days of ``[start, end)`` covered by the suspensions."""
    total = 0
    for s, e in merge_periods(suspensions):
        lo, hi = max(s, start), min(e, end)
        if hi > lo:
            total += (hi - lo).days
    return total


def payment_delay_days(received_on: date, paid_on: date, suspensions=()) -> int:
    """Calendar days from receipt of the invoice to payment, suspended days excluded.

    E.g. received 03/03/2025, paid 02/05/2025: 60 days; with the clock stopped from
    10/03 to 20/03 (10 days), 50 days.
    """
    if paid_on < received_on:
        raise ValueError("paiement antérieur à la réception de la demande de paiement")
    return (paid_on - received_on).days - suspended_days(suspensions, received_on, paid_on)


def due_date(received_on: date, term_days: int = DEFAULT_TERM_DAYS, suspensions=()) -> date:
    """Last day to pay without being late: receipt + term, pushed back by suspensions.

    A suspension starting on or before the due date pushes it back by its length; one
    starting after the due date changes nothing (the payment is already late).
    Consistent with :func:`payment_delay_days`: a payment on ``paid_on`` is late if and
    only if ``paid_on > due_date(...)``, i.e. ``payment_delay_days(...) > term_days``.
    """
    if term_days < 0:
        raise ValueError("délai de paiement négatif")
    cursor, remaining = received_on, term_days
    for start, end in merge_periods(suspensions):
        if end <= cursor:
            continue
        start = max(start, cursor)
        running = (start - cursor).days
        if running > remaining:
            break
        remaining -= running
        cursor = end
    return cursor + timedelta(days=remaining)


def due_date_after_interruption(received_on: date, interruption_notified_on: date,
                                documents_received_on: date, term_days: int = DEFAULT_TERM_DAYS,
                                new_period_days: int = 30) -> date:
    """Due date after an interruption of the payment term (CCP R. 2192-27 to R. 2192-29).

    The term may be interrupted once; from the receipt of all missing documents a new
    period opens, of 30 days, or of the balance left at the notification of the
    interruption if that balance is longer than 30 days.
    """
    if not received_on <= interruption_notified_on <= documents_received_on:
        raise ValueError("dates d'interruption incohérentes")
    balance = term_days - (interruption_notified_on - received_on).days
    return documents_received_on + timedelta(days=max(new_period_days, balance))


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
