"""Late payment: delays, due dates, moratorium interest (fc_market.billing.interest)."""
import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fc_market.billing.interest import (FLAT_INDEMNITY, Payment, due_date,
                                        due_date_after_interruption, ecb_rate_on, invoice_interest,
                                        moratorium_interest, moratorium_rate, payment_delay_days,
                                        semester_start, suspended_days)

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
SUSPENSION = (date(2025, 3, 10), date(2025, 3, 20))   # clock stopped 10/03 → 19/03: 10 days
PAID = date(2025, 5, 2)


def test_worked_example_days():
    # 03/03 → 02/05: 28 days left in March (31 − 3) + 30 in April + 2 in May = 60 days,
    # minus the 10 suspended days = 50 days of payment delay
    assert suspended_days([SUSPENSION], RECEIVED, PAID) == 10
    assert payment_delay_days(RECEIVED, PAID) == 60
    assert payment_delay_days(RECEIVED, PAID, [SUSPENSION]) == 50
    # due date: 03/03 + 30 days = 02/04, pushed back 10 days → 12/04/2025
    assert due_date(RECEIVED, 30) == date(2025, 4, 2)
    assert due_date(RECEIVED, 30, [SUSPENSION]) == date(2025, 4, 12)
    # late days: 50 − 30 = 20 = 12/04 → 02/05 (18 days in April + 2 in May)
    assert (PAID - due_date(RECEIVED, 30, [SUSPENSION])).days == 20


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
    due = due_date(RECEIVED, 30, [SUSPENSION])
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


def test_suspension_edge_cases():
    # after the due date (02/04): changes nothing, the payment is already late
    assert due_date(RECEIVED, 30, [(date(2025, 4, 20), date(2025, 4, 25))]) == date(2025, 4, 2)
    # notified on the due date itself: the clock stops, 3 days → 05/04
    assert due_date(RECEIVED, 30, [(date(2025, 4, 2), date(2025, 4, 5))]) == date(2025, 4, 5)
    # overlapping suspensions count once: 10/03 → 25/03 = 15 days → 17/04
    periods = [(date(2025, 3, 10), date(2025, 3, 20)), (date(2025, 3, 15), date(2025, 3, 25))]
    assert suspended_days(periods, RECEIVED, PAID) == 15
    assert due_date(RECEIVED, 30, periods) == date(2025, 4, 17)
    # started before receipt: only 03/03 and 04/03 count → 04/04
    assert due_date(RECEIVED, 30, [(date(2025, 3, 1), date(2025, 3, 5))]) == date(2025, 4, 4)
    with pytest.raises(ValueError):
        due_date(RECEIVED, 30, [(date(2025, 3, 5), date(2025, 3, 1))])
    with pytest.raises(ValueError):
        payment_delay_days(RECEIVED, date(2025, 3, 1))


def test_interruption_opens_a_new_period():
    # CCP R. 2192-29: interruption notified 10/03 (7 days elapsed, balance 23 days),
    # complete documents on 20/03 → new 30-day period → 19/04/2025 (vs 12/04 with a suspension)
    assert due_date_after_interruption(RECEIVED, date(2025, 3, 10), date(2025, 3, 20)) \
        == date(2025, 4, 19)
    # 60-day contractual term, interrupted after 10 days: balance 50 > 30 → 50 days from 20/03
    assert due_date_after_interruption(RECEIVED, date(2025, 3, 13), date(2025, 3, 20), 60) \
        == date(2025, 5, 9)


def test_no_float_in_results():
    r = invoice_interest(E("12000.00"), date(2025, 4, 12), [(date(2025, 5, 2), E("5000.00"))],
                         ECB_MRO, as_of=date(2025, 6, 11))
    leaves = [getattr(r, f.name) for f in dataclasses.fields(r)]
    leaves += [getattr(p, f.name) for p in r.portions for f in dataclasses.fields(p)]
    assert not [x for x in leaves if isinstance(x, float)]


# -------------------------------------------------------------------- properties

dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2026, 12, 31))
periods = st.lists(st.tuples(dates, st.integers(0, 40)).map(lambda t: (t[0], t[0] + timedelta(t[1]))),
                   max_size=4)


@settings(max_examples=300, deadline=None)
@given(received=dates, term=st.integers(0, 90), suspensions=periods, offset=st.integers(0, 200))
def test_due_date_consistent_with_delay(received, term, suspensions, offset):
    due = due_date(received, term, suspensions)
    assert payment_delay_days(received, due, suspensions) == term
    paid = received + timedelta(offset)
    late = payment_delay_days(received, paid, suspensions) > term
    assert late == (paid > due)


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
