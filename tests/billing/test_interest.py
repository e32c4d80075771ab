"""Late payment: delays, due dates, moratorium interest (fc_market.billing.interest)."""
import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fc_market.billing.interest import (FLAT_INDEMNITY, INTEREST_PAYMENT_DAYS,
                                        NEW_TERM_FLOOR_DAYS, Interruption, Payment, ecb_rate_on,
                                        interest_deadline, interruption_balance, invoice_interest,
                                        moratorium_interest, moratorium_rate, new_term_days,
                                        payment_clock, semester_start)

E = Decimal


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure arithmetic: no app, no database — overrides tests/conftest.py's autouse fixture."""
    yield


#: ECB main refinancing operations rate, by date of effect (percent).  As published by the
#: ECB for 2024-2025 (check against the ECB / Banque de France before relying on it in
#: production: the application is given its rate table, it does not embed one).
ECB_MRO = [
    (date(2023, 9, 20), E("4.50")),
    (date(2024, 6, 12), E("4.25")),
    (date(2024, 9, 18), E("3.65")),
    (date(2024, 10, 23), E("3.40")),
    (date(2024, 12, 18), E("3.15")),
    (date(2025, 2, 5), E("2.90")),
    (date(2025, 3, 12), E("2.65")),
    (date(2025, 4, 23), E("2.40")),
    (date(2025, 6, 11), E("2.15")),
]

RECEIVED = date(2025, 3, 3)
#: Interruption notified on 10/03 (7 days elapsed), all documents received on 20/03
INTERRUPTION = Interruption(date(2025, 3, 10), date(2025, 3, 20))
PAID = date(2025, 5, 2)


def test_plain_term_days():
    # 03/03 → 02/05: 28 days left in March (31 − 3) + 30 in April + 2 in May = 60 days
    c = payment_clock(RECEIVED, 30, paid_on=PAID)
    assert c.delay_days == 60
    # due date: 03/03 + 30 days = 02/04/2025 ; late 02/04 → 02/05 = 28 + 2 = 30 days
    assert c.due_on == date(2025, 4, 2) and c.days_late == 30 and c.late
    assert not payment_clock(RECEIVED, 30, paid_on=date(2025, 4, 2)).late


def test_interruption_with_a_balance_under_30_days():
    # R. 2192-29: notified 10/03, 7 days after receipt: balance 30 − 7 = 23 days < 30;
    # all documents on 20/03 → new term of max(30, 23) = 30 days → due 19/04/2025
    c = payment_clock(RECEIVED, 30, INTERRUPTION, paid_on=PAID)
    assert c.balance_days == 23 and c.current_term_days == 30
    assert c.term_started_on == date(2025, 3, 20) and c.due_on == date(2025, 4, 19)
    # the delay is the real time waited, receipt → payment: still 60 days; late 19/04 → 02/05
    # = 11 days in April + 2 in May = 13 days
    assert (c.delay_days, c.days_late) == (60, 13)
    # interest starts 20/04/2025 → 1st half-year 2025 → ECB 3,15 % on 01/01/2025 + 8 = 11,15 %
    # 12 000,00 × 11,15 % × 13 / 365 = 17 394 / 365 = 47,654794… → 47,65 € ; + 40,00 €
    r = moratorium_interest(E("12000.00"), c.due_on, PAID, ECB_MRO)
    assert (r.rate, r.portions[0].days_late, r.interest, r.total) == (
        E("11.15"), 13, E("47.65"), E("87.65"))


def test_interruption_with_a_balance_over_30_days():
    # a 60-day contractual term interrupted on 13/03, 10 days after receipt: balance 50 days
    # > 30 → the new term is the balance, 50 days from the documents of 20/03 → 09/05/2025
    c = payment_clock(RECEIVED, 60, Interruption(date(2025, 3, 13), date(2025, 3, 20)),
                      paid_on=date(2025, 5, 9))
    assert c.balance_days == 50 and c.current_term_days == 50
    assert c.due_on == date(2025, 5, 9) and not c.late          # 20/03 + 50 = 11 + 30 + 9
    late = payment_clock(RECEIVED, 60, Interruption(date(2025, 3, 13), date(2025, 3, 20)),
                         paid_on=date(2025, 5, 12))
    assert late.days_late == 3 and late.delay_days == 70        # 28 + 30 + 12


def test_interruption_awaiting_documents_stops_the_clock():
    c = payment_clock(RECEIVED, 30, Interruption(date(2025, 3, 10)), as_of=date(2025, 6, 30))
    assert c.awaiting_documents and c.due_on is None and not c.late
    assert c.delay_days == 119                                   # 28 + 30 + 31 + 30
    assert c.balance_days == 23 and c.current_term_days is None


def test_demo_invoice_fac_idf_202411():
    # received 23/12/2024, interrupted 28/12 (balance 30 − 5 = 25), documents 09/01/2025:
    # new term max(30, 25) = 30 days → due 08/02/2025 ; paid 11/01/2025: 19 days (8 + 11),
    # on time.  (The former suspension subtracted the 12 days 28/12 → 09/01 and read 7 days.)
    c = payment_clock(date(2024, 12, 23), 30, Interruption(date(2024, 12, 28), date(2025, 1, 9)),
                      paid_on=date(2025, 1, 11))
    assert (c.balance_days, c.due_on, c.delay_days, c.late) == (25, date(2025, 2, 8), 19, False)


def test_statutory_constants_and_helpers():
    assert NEW_TERM_FLOOR_DAYS == 30 and INTEREST_PAYMENT_DAYS == 45
    assert interruption_balance(RECEIVED, date(2025, 3, 10), 30) == 23
    assert new_term_days(23) == 30 and new_term_days(50) == 50
    # R. 2192-36: principal paid 02/05/2025 → interest due by 16/06/2025 (29 + 16 = 45 days)
    assert interest_deadline(PAID) == date(2025, 6, 16)


def test_clock_refuses_inconsistent_dates():
    with pytest.raises(ValueError):
        payment_clock(RECEIVED, 30, paid_on=date(2025, 3, 1))
    with pytest.raises(ValueError):
        payment_clock(RECEIVED, 30, Interruption(date(2025, 3, 1)), as_of=PAID)
    with pytest.raises(ValueError):
        payment_clock(RECEIVED, 30, Interruption(date(2025, 3, 10), date(2025, 3, 5)), as_of=PAID)
    with pytest.raises(ValueError):
        payment_clock(RECEIVED, 30)


def test_worked_example_interest_with_the_briefs_rate():
    # Illustrative rate table where 2,65 % is the ECB rate in force on 01/01/2025.
    # Interest starts on 13/04/2025 → 1st half-year 2025 → 2,65 + 8 = 10,65 %
    # 12 000,00 × 10,65 % × 20 / 365 = 25 560 / 365 = 70,027397… → 70,03 € ; + 40,00 € indemnity
    rates = [(date(2024, 12, 18), E("2.65"))]
    r = moratorium_interest(E("12000.00"), date(2025, 4, 12), PAID, rates)
    assert r.interest_start == date(2025, 4, 13)
    assert r.semester_start == date(2025, 1, 1)
    assert (r.ecb_rate, r.rate) == (E("2.65"), E("10.65"))
    assert r.portions[0].days_late == 20
    assert r.interest == E("70.03")
    assert r.flat_indemnity == E("40.00") == FLAT_INDEMNITY
    assert r.total == E("110.03")


def test_worked_example_interest_with_the_real_ecb_history():
    # The ECB rate in force on the first day of the half-year (01/01/2025) was 3,15 %, not the
    # 2,65 % in force at the due date (12/04/2025): 3,15 + 8 = 11,15 %
    # 12 000,00 × 11,15 % × 20 / 365 = 26 760 / 365 = 73,315068… → 73,32 €
    due = date(2025, 4, 12)
    assert ecb_rate_on(due, ECB_MRO) == E("2.65")            # the trap
    r = moratorium_interest(E("12000.00"), due, PAID, ECB_MRO)
    assert (r.ecb_rate, r.rate) == (E("3.15"), E("11.15"))
    assert r.interest == E("73.32")
    assert r.total == E("113.32")
    assert "12\u202f000,00 × 11,15 % × 20 / 365 = 73,32 €" in r.explanation
    assert "01/01/2025" in r.explanation


def test_half_year_is_the_one_in_which_interest_starts():
    # due 30/06/2025 → interest starts 01/07/2025 → 2nd half-year: ECB on 01/07/2025 = 2,15 %
    # 5 000,00 × 10,15 % × 30 / 365 = 15 225 / 365 = 41,712328… → 41,71
    r = moratorium_interest(E("5000.00"), date(2025, 6, 30), date(2025, 7, 30), ECB_MRO)
    assert (r.semester_start, r.rate, r.interest) == (date(2025, 7, 1), E("10.15"), E("41.71"))
    # due 29/06/2025 → interest starts 30/06 → 1st half-year: 11,15 % ; 31 days
    # 5 000,00 × 11,15 % × 31 / 365 = 17 282,5 / 365 = 47,349315… → 47,35
    r = moratorium_interest(E("5000.00"), date(2025, 6, 29), date(2025, 7, 30), ECB_MRO)
    assert (r.semester_start, r.rate, r.interest) == (date(2025, 1, 1), E("11.15"), E("47.35"))


def test_moratorium_rate_and_semesters():
    assert semester_start(date(2025, 6, 30)) == date(2025, 1, 1)
    assert semester_start(date(2025, 7, 1)) == date(2025, 7, 1)
    assert moratorium_rate(date(2024, 8, 1), ECB_MRO) == (date(2024, 7, 1), E("4.25"), E("12.25"))
    assert moratorium_rate(date(2024, 8, 1), ECB_MRO, margin=E("7"))[2] == E("11.25")
    with pytest.raises(ValueError):
        ecb_rate_on(date(2020, 1, 1), ECB_MRO)


def test_paid_on_time_no_interest_no_indemnity():
    for paid in (date(2025, 4, 1), date(2025, 4, 12)):      # before or on the due date
        r = moratorium_interest(E("12000.00"), date(2025, 4, 12), paid)   # no rate needed
        assert not r.late
        assert (r.interest, r.flat_indemnity, r.total) == (E("0.00"),) * 3
        assert r.rate is None


def test_one_day_late():
    # 12 000,00 × 11,15 % × 1 / 365 = 1 338 / 365 = 3,665753… → 3,67 ; + 40,00
    r = moratorium_interest(E("12000.00"), date(2025, 4, 12), date(2025, 4, 13), ECB_MRO)
    assert (r.interest, r.total) == (E("3.67"), E("43.67"))


def test_interest_rounded_half_up():
    # 456,25 × 10 % × 1 / 365 = 45,625 / 365 = 0,125 exactly → half-up 0,13 (half-even: 0,12)
    r = moratorium_interest(E("456.25"), date(2025, 1, 10), date(2025, 1, 11),
                            [(date(2020, 1, 1), E("2"))])
    assert r.rate == E("10") and r.interest == E("0.13")


def test_flat_indemnity_is_a_parameter():
    r = moratorium_interest(E("12000.00"), date(2025, 4, 12), PAID, ECB_MRO,
                            flat_indemnity=E("0.00"))
    assert r.total == r.interest == E("73.32")


def test_partial_payments_each_portion_on_its_own_delay():
    # invoice 12 000,00 due 12/04/2025 (rate 11,15 %):
    #   4 000,00 paid 10/04 (on time)              → 0,00
    #   5 000,00 paid 02/05 (20 days)  5 000 × 11,15 % × 20 / 365 = 11 150 / 365 = 30,547945 → 30,55
    #   3 000,00 unpaid at 11/06 (18 + 31 + 11 = 60 days)
    #                                  3 000 × 11,15 % × 60 / 365 = 20 070 / 365 = 54,986301 → 54,99
    # interest 30,55 + 54,99 = 85,54 ; + 40,00 once for the invoice = 125,54
    r = invoice_interest(E("12000.00"), date(2025, 4, 12),
                         [Payment(date(2025, 5, 2), E("5000.00")), (date(2025, 4, 10), E("4000.00"))],
                         ECB_MRO, as_of=date(2025, 6, 11))
    assert [(p.amount, p.paid_on, p.days_late, p.interest) for p in r.portions] == [
        (E("4000.00"), date(2025, 4, 10), 0, E("0.00")),
        (E("5000.00"), date(2025, 5, 2), 20, E("30.55")),
        (E("3000.00"), None, 60, E("54.99")),
    ]
    assert (r.paid, r.unpaid) == (E("9000.00"), E("3000.00"))
    assert r.interest == E("85.54")
    assert r.flat_indemnity == E("40.00")
    assert r.total == E("125.54")


def test_partial_payments_errors():
    with pytest.raises(ValueError):                     # remainder without as_of
        invoice_interest(E("100.00"), date(2025, 4, 12), [(date(2025, 5, 2), E("50.00"))], ECB_MRO)
    with pytest.raises(ValueError):                     # overpaid
        invoice_interest(E("100.00"), date(2025, 4, 12), [(date(2025, 5, 2), E("150.00"))], ECB_MRO)
    with pytest.raises(TypeError):
        invoice_interest(E("100.00"), date(2025, 4, 12), [(date(2025, 5, 2), 100.0)], ECB_MRO)
    with pytest.raises(ValueError):                     # late but no rate known
        moratorium_interest(E("100.00"), date(2025, 4, 12), date(2025, 5, 2), [])


def test_payment_straddling_two_half_years():
    # ECB rates: 3,15 % in force on 01/01/2025 (1st half-year), 2,15 % on 01/07/2025 (2nd).
    # Due 20/06/2025, paid 10/07/2025: 20 days late, 10 in each half-year.  R. 2192-31 takes
    # the rate in force on the first day of the half-year in which the interest STARTED
    # (21/06/2025 → 1st half-year): 3,15 + 8 = 11,15 % for all 20 days, not 10,15 % for July.
    # 5 000,00 × 11,15 % × 20 / 365 = 11 150 / 365 = 30,547945… → 30,55 €
    # (a split 10 days × 11,15 % + 10 days × 10,15 % would give 15,27 + 13,90 = 29,17 €)
    rates = [(date(2024, 12, 18), E("3.15")), (date(2025, 6, 11), E("2.15"))]
    assert moratorium_rate(date(2025, 7, 1), rates)[2] == E("10.15")   # the 2nd half-year's rate
    r = moratorium_interest(E("5000.00"), date(2025, 6, 20), date(2025, 7, 10), rates)
    assert (r.semester_start, r.ecb_rate, r.rate) == (date(2025, 1, 1), E("3.15"), E("11.15"))
    assert (r.portions[0].days_late, r.interest, r.total) == (20, E("30.55"), E("70.55"))
    # two payments of the same invoice, one in each half-year, share that rate:
    # 2 000,00 paid 30/06 (10 days): 2 000 × 11,15 % × 10 / 365 = 2 230 / 365 = 6,109589 → 6,11
    # 3 000,00 paid 10/07 (20 days): 3 000 × 11,15 % × 20 / 365 = 6 690 / 365 = 18,328767 → 18,33
    r = invoice_interest(E("5000.00"), date(2025, 6, 20),
                         [(date(2025, 6, 30), E("2000.00")), (date(2025, 7, 10), E("3000.00"))], rates)
    assert [p.interest for p in r.portions] == [E("6.11"), E("18.33")]
    assert r.interest == E("24.44") and r.flat_indemnity == E("40.00")


def test_no_float_in_results():
    r = invoice_interest(E("12000.00"), date(2025, 4, 12), [(date(2025, 5, 2), E("5000.00"))],
                         ECB_MRO, as_of=date(2025, 6, 11))
    leaves = [getattr(r, f.name) for f in dataclasses.fields(r)]
    leaves += [getattr(p, f.name) for p in r.portions for f in dataclasses.fields(p)]
    assert not [x for x in leaves if isinstance(x, float)]


# -------------------------------------------------------------------- properties

dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))


@settings(max_examples=300, deadline=None)
@given(received=dates, term=st.integers(1, 90), notice=st.integers(0, 90), wait=st.integers(0, 60),
       offset=st.integers(0, 250))
def test_interruption_never_shortens_the_term(received, term, notice, wait, offset):
    notified = received + timedelta(min(notice, term))
    interruption = Interruption(notified, notified + timedelta(wait))
    paid = received + timedelta(offset)
    if paid < received:
        return
    plain = payment_clock(received, term, paid_on=paid)
    c = payment_clock(received, term, interruption, paid_on=paid)
    assert c.due_on >= plain.due_on
    assert c.due_on - interruption.documents_received_on >= timedelta(NEW_TERM_FLOOR_DAYS) \
        or c.current_term_days == c.balance_days
    assert c.late == (paid > c.due_on) and c.delay_days == offset


@settings(max_examples=200, deadline=None)
@given(amount=st.decimals(min_value="0.01", max_value=10 ** 7, places=2),
       due=st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 1, 1)),
       days=st.integers(0, 400))
def test_interest_properties(amount, due, days):
    r = moratorium_interest(amount, due, due + timedelta(days), ECB_MRO)
    assert r.interest >= 0 and r.interest.as_tuple().exponent == -2
    assert r.late == (days > 0)
    assert r.total == r.interest + r.flat_indemnity
    if days:
        # interest = amount × rate × days / 365, within half a cent
        exact = amount * r.rate / 100 * days / 365
        assert abs(r.interest - exact) <= E("0.005")
