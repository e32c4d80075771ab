"""État liquidatif arithmetic (fc_market.billing.calc), hand-computed cases and properties."""
import dataclasses
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fc_market.billing.calc import (ActGroup, LatePenalty, LumpSum, RevisionClause, StatementInput,
                                    compute_penalty, compute_statement, diff_statements,
                                    revision_coefficient)

E = Decimal


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure arithmetic: no app, no database — overrides tests/conftest.py's autouse fixture."""
    yield


def walk(value):
    """Every leaf of a (nested) dataclass / tuple / list / dict."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from walk(getattr(value, f.name))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from walk(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from walk(k)
            yield from walk(v)
    else:
        yield value


def assert_no_float(obj):
    floats = [leaf for leaf in walk(obj) if isinstance(leaf, float)]
    assert not floats, floats


# A lot's month (March 2025), prices valid at each act's date:
#   UO0   37 × 95,00                 =  3 515,00
#   UO1  120 × 350,00 (until 14/03)  = 42 000,00
#   UO1   80 × 362,50 (from 15/03)   = 29 000,00   ← price change mid-month: two groups
#   UO2.1 15 × 1 200,00              = 18 000,00
#   UO2.2  7 × 410,00                =  2 870,00
#   UO4   25 000,00 / 12, month 3    =  2 083,34   (2 500 000 c = 12 × 208 333 c + 4 c:
#                                                   months 1–4 get the extra cent)
#   subtotal                         = 97 468,34
MARCH_GROUPS = (
    ActGroup("UO1", E("362.50"), 80),
    ActGroup("UO0", E("95.00"), 37),
    ActGroup("UO1", E("350.00"), 120),
    ActGroup("UO2.2", E("410.00"), 7),
    ActGroup("UO2.1", E("1200.00"), 15),
)
UO4 = LumpSum(yearly_amount=E("25000.00"), month_index=3)


def march(**kw):
    return compute_statement(StatementInput(act_groups=MARCH_GROUPS, lump_sum=UO4, **kw))


def test_price_change_mid_month_two_price_groups():
    s = march()
    assert [(l.uo_code, l.quantity, l.unit_price, l.amount) for l in s.lines] == [
        ("UO0", 37, E("95.00"), E("3515.00")),
        ("UO1", 120, E("350.00"), E("42000.00")),
        ("UO1", 80, E("362.50"), E("29000.00")),
        ("UO2.1", 15, E("1200.00"), E("18000.00")),
        ("UO2.2", 7, E("410.00"), E("2870.00")),
        ("UO4", 1, E("2083.34"), E("2083.34")),
    ]
    assert s.lines[-1].kind == "lump_sum"
    assert s.revision_coefficient == 1
    assert all(l.revision_adjustment == 0 for l in s.lines)
    assert s.subtotal == E("97468.34")
    # VAT 20 % once on the total: 97 468,34 × 0,20 = 19 493,668 → 19 493,67
    assert s.vat == E("19493.67")
    assert s.total_excl_tax == E("97468.34")
    assert s.total_incl_tax == E("116962.01")
    assert s.amount_payable == E("116962.01")
    assert s.unabsorbed == 0


def test_uo4_shares_of_the_year_sum_to_the_lump_sum():
    shares = [LumpSum(E("25000.00"), m).share for m in range(1, 13)]
    # 4 × 2 083,34 + 8 × 2 083,33 = 8 333,36 + 16 666,64 = 25 000,00
    assert shares[3] == E("2083.34") and shares[4] == E("2083.33")
    assert sum(shares) == E("25000.00")


def test_duplicate_groups_are_merged_and_zero_quantities_dropped():
    s = compute_statement(StatementInput(act_groups=[
        ActGroup("UO1", E("350"), 3), ActGroup("UO1", E("350.00"), 2), ActGroup("UO0", E("95"), 0)]))
    assert [(l.uo_code, l.quantity, l.amount) for l in s.lines] == [("UO1", 5, E("1750.00"))]


def test_revision_coefficient_formula():
    # C = 0,15 + 0,85 × 118,7 / 112,3 = 0,15 + 0,85 × 1,0569902… = 1,0484416… → 1,0484 (4 dec.)
    assert revision_coefficient("0.15", "0.85", "118.7", "112.3") == E("1.0484")
    # configurable decimals and rounding: 6 decimals → 1,048442 (half-up) / 1,048441 (down)
    assert revision_coefficient("0.15", "0.85", "118.7", "112.3", decimals=6) == E("1.048442")
    assert revision_coefficient("0.15", "0.85", "118.7", "112.3", 6, "down") == E("1.048441")
    # index unchanged → 1
    assert revision_coefficient("0.125", "0.875", "100", "100") == 1
    with pytest.raises(ValueError):
        revision_coefficient("0.2", "0.85", "118.7", "112.3")     # parts sum to 1,05
    assert revision_coefficient("0.2", "0.85", "100", "100", require_unit_sum=False) == E("1.0500")


def test_revision_applied_to_each_line_amount_then_rounded():
    clause = RevisionClause(fixed_part=E("0.15"), variable_part=E("0.85"),
                            index_base=E("112.3"), index_current=E("118.7"))
    s = march(revision=clause)
    assert s.revision_coefficient == E("1.0484")
    # line amount = round(gross × 1,0484), adjustment = amount − gross
    #   3 515,00 × 1,0484 =  3 685,126    →  3 685,13  (+170,13)
    #  42 000,00 × 1,0484 = 44 032,80     → 44 032,80  (+2 032,80)
    #  29 000,00 × 1,0484 = 30 403,60     → 30 403,60  (+1 403,60)
    #  18 000,00 × 1,0484 = 18 871,20     → 18 871,20  (+871,20)
    #   2 870,00 × 1,0484 =  3 008,908    →  3 008,91  (+138,91)
    #   2 083,34 × 1,0484 =  2 184,173656 →  2 184,17  (+100,83)
    # subtotal = 102 185,81 = 97 468,34 + 4 717,47
    # (applied to the unit price instead, UO0 would be 37 × round(95 × 1,0484 = 99,598) =
    #  37 × 99,60 = 3 685,20: that is not what this module does)
    assert [(l.gross_amount, l.revision_adjustment, l.amount) for l in s.lines] == [
        (E("3515.00"), E("170.13"), E("3685.13")),
        (E("42000.00"), E("2032.80"), E("44032.80")),
        (E("29000.00"), E("1403.60"), E("30403.60")),
        (E("18000.00"), E("871.20"), E("18871.20")),
        (E("2870.00"), E("138.91"), E("3008.91")),
        (E("2083.34"), E("100.83"), E("2184.17")),
    ]
    assert s.revision_adjustments == E("4717.47")
    assert s.subtotal == E("102185.81")
    # VAT: 102 185,81 × 0,20 = 20 437,162 → 20 437,16 ; incl. tax 122 622,97
    assert s.vat == E("20437.16")
    assert s.total_incl_tax == E("122622.97")


def test_revision_can_spare_the_lump_sum():
    clause = RevisionClause(E("0.15"), E("0.85"), E("112.3"), E("118.7"))
    s = march(revision=clause, revise_lump_sum=False)
    assert s.lines[-1].amount == E("2083.34") and s.lines[-1].revision_adjustment == 0
    assert s.subtotal == E("102185.81") - E("100.83")


def test_line_rounding_mode_from_contract():
    # 3 × 33,3350 = 100,005: half-up 100,01 ; half-even 100,00 (0 is even) ; down 100,00
    # 1 × 0,0150 = 0,015:    half-up 0,02 ; half-even 0,02 (2 is even) ; down 0,01
    groups = (ActGroup("UO1", E("33.3350"), 3), ActGroup("UO2.1", E("0.0150"), 1))
    amounts = {mode: [l.amount for l in compute_statement(
        StatementInput(act_groups=groups, rounding=mode)).lines]
        for mode in ("half_up", "half_even", "down")}
    assert amounts == {
        "half_up": [E("100.01"), E("0.02")],
        "half_even": [E("100.00"), E("0.02")],
        "down": [E("100.00"), E("0.01")],
    }


def test_vat_rounded_once_on_the_total():
    # three lines of 1,03: per line 1,03 × 0,20 = 0,206 → 0,21, i.e. 0,63 if summed;
    # once on the total: 3,09 × 0,20 = 0,618 → 0,62
    groups = [ActGroup(code, E("1.03"), 1) for code in ("UO0", "UO1", "UO2.1")]
    s = compute_statement(StatementInput(act_groups=groups))
    assert s.subtotal == E("3.09") and s.vat == E("0.62") and s.total_incl_tax == E("3.71")


def test_vat_half_cent_and_vat_rounding_override():
    # 3,00 × 5,5 % = 0,165: half-up 0,17 ; half-even 0,16
    groups = [ActGroup("UO0", E("3.00"), 1)]
    assert compute_statement(StatementInput(act_groups=groups, vat_rate=E("0.055"))).vat == E("0.17")
    assert compute_statement(StatementInput(act_groups=groups, vat_rate=E("0.055"),
                                            vat_rounding="half_even")).vat == E("0.16")


def test_vat_exempt():
    s = march(vat_rate=E("0"))
    assert s.vat == E("0.00")
    assert s.total_incl_tax == s.total_excl_tax == E("97468.34")


def test_penalty_capped_by_amount_and_by_rate():
    # 12 days × 150,00 = 1 800,00 ; cap 1 000,00 → 1 000,00
    p = compute_penalty(LatePenalty(12, E("150.00"), cap_amount=E("1000.00")), E("97468.34"))
    assert (p.raw_amount, p.amount, p.capped) == (E("1800.00"), E("1000.00"), True)
    # + cap 1 % of 97 468,34 = 974,6834 → 974,68 (rounded down: never above 1 %) → lower cap wins
    p = compute_penalty(LatePenalty(12, E("150.00"), E("1000.00"), E("0.01")), E("97468.34"))
    assert (p.cap_from_rate, p.amount, p.capped) == (E("974.68"), E("974.68"), True)
    # below the caps: 3 × 150,00 = 450,00, not capped
    p = compute_penalty(LatePenalty(3, E("150.00"), E("1000.00"), E("0.01")), E("97468.34"))
    assert (p.amount, p.capped) == (E("450.00"), False)


def test_penalty_outside_vat_scope_by_default():
    s = march(penalty=LatePenalty(12, E("150.00"), E("1000.00"), E("0.01")))
    assert s.penalties == E("974.68")
    # VAT on 97 468,34 (the penalty does not reduce the base): 19 493,67 ; incl. tax 116 962,01
    # payable = 116 962,01 − 974,68 = 115 987,33
    assert s.total_excl_tax == E("97468.34")
    assert s.vat == E("19493.67")
    assert s.penalties_deducted_incl_tax == E("974.68")
    assert s.amount_payable == E("115987.33")


def test_penalty_reducing_the_vat_base_when_asked():
    s = march(penalty=LatePenalty(12, E("150.00"), E("1000.00"), E("0.01")),
              penalty_vat_treatment="reduces_vat_base")
    # 97 468,34 − 974,68 = 96 493,66 ; VAT 96 493,66 × 0,2 = 19 298,732 → 19 298,73
    assert s.total_excl_tax == E("96493.66")
    assert s.vat == E("19298.73")
    assert s.total_incl_tax == s.amount_payable == E("115792.39")


def test_withholding_makes_total_negative_floored_at_zero():
    # 2 × 95,00 = 190,00 ; CSF withholding 250,00 → −60,00 → 0,00 and 60,00 unabsorbed
    groups = [ActGroup("UO0", E("95.00"), 2)]
    s = compute_statement(StatementInput(act_groups=groups, withholdings=E("250.00")))
    assert s.net_excl_tax_before_floor == E("-60.00")
    assert (s.total_excl_tax, s.vat, s.total_incl_tax, s.amount_payable) == (E("0.00"),) * 4
    assert s.unabsorbed == E("60.00")
    # plus a 30,00 penalty (outside VAT): nothing to take it from → 90,00 unabsorbed
    s = compute_statement(StatementInput(act_groups=groups, withholdings=E("250.00"),
                                         penalty=LatePenalty(1, E("30.00"))))
    assert s.amount_payable == 0 and s.unabsorbed == E("90.00")
    # same with the penalty reducing the base: 190 − 30 − 250 = −90 → 0, 90,00 unabsorbed
    s = compute_statement(StatementInput(act_groups=groups, withholdings=E("250.00"),
                                         penalty=LatePenalty(1, E("30.00")),
                                         penalty_vat_treatment="reduces_vat_base"))
    assert s.total_excl_tax == 0 and s.unabsorbed == E("90.00")


def test_penalty_larger_than_amount_incl_tax():
    # 190,00 + VAT 38,00 = 228,00 ; penalty 10 × 30,00 = 300,00 → 228,00 deducted, 72,00 left
    s = compute_statement(StatementInput(act_groups=[ActGroup("UO0", E("95.00"), 2)],
                                         penalty=LatePenalty(10, E("30.00"))))
    assert s.total_incl_tax == E("228.00")
    assert s.penalties_deducted_incl_tax == E("228.00")
    assert s.amount_payable == E("0.00") and s.unabsorbed == E("72.00")


def test_inputs_refuse_floats_and_negatives():
    with pytest.raises(TypeError):
        ActGroup("UO1", 350.0, 1)
    with pytest.raises(TypeError):
        ActGroup("UO1", E("350"), 1.0)
    with pytest.raises(ValueError):
        ActGroup("UO1", E("-1"), 1)
    with pytest.raises(TypeError):
        StatementInput(vat_rate=0.2)
    with pytest.raises(ValueError):
        StatementInput(vat_rate=E("20"))
    with pytest.raises(ValueError):
        StatementInput(rounding="banker")
    with pytest.raises(ValueError):
        LumpSum(E("1000.00"), 13)


def test_diff_statements_for_an_adjusting_statement():
    old = march()
    # after certification: 2 UO1 acts at 350,00 rejected, UO2.2 acts all rejected, 1 UO0 added,
    # 20,00 withheld
    new_groups = (ActGroup("UO0", E("95.00"), 38), ActGroup("UO1", E("350.00"), 118),
                  ActGroup("UO1", E("362.50"), 80), ActGroup("UO2.1", E("1200.00"), 15))
    new = compute_statement(StatementInput(act_groups=new_groups, lump_sum=UO4,
                                           withholdings=E("20.00")))
    d = diff_statements(old, new)
    assert [(l.uo_code, l.unit_price, l.quantity_delta, l.amount_delta) for l in d.changed_lines] == [
        ("UO0", E("95.00"), 1, E("95.00")),
        ("UO1", E("350.00"), -2, E("-700.00")),
        ("UO2.2", E("410.00"), -7, E("-2870.00")),
    ]
    assert len(d.lines) == 6                      # unchanged lines are listed too
    # subtotal: +95 − 700 − 2 870 = −3 475,00 ; excl. tax: −3 475 − 20 = −3 495,00
    assert d.subtotal_delta == E("-3475.00") == sum(l.amount_delta for l in d.lines)
    assert d.withholdings_delta == E("20.00")
    assert d.total_excl_tax_delta == E("-3495.00")
    # VAT: new 93 973,34 × 0,2 = 18 794,668 → 18 794,67 ; 18 794,67 − 19 493,67 = −699,00
    assert d.vat_delta == E("-699.00")
    assert d.total_incl_tax_delta == E("-4194.00")
    assert d.amount_payable_delta == E("-4194.00")


def test_diff_of_identical_statements_is_empty():
    s = march()
    d = diff_statements(s, s)
    assert d.changed_lines == () and d.subtotal_delta == 0 and d.amount_payable_delta == 0


def test_no_float_in_statement():
    clause = RevisionClause(E("0.15"), E("0.85"), E("112.3"), E("118.7"))
    s = march(revision=clause, penalty=LatePenalty(12, E("150.00"), E("1000.00"), E("0.01")),
              withholdings=E("12.34"))
    assert_no_float(s)
    assert_no_float(diff_statements(march(), s))


# -------------------------------------------------------------------- properties

UO_CODES = ["UO0", "UO1", "UO2.1", "UO2.2", "UOX"]
prices = st.decimals(min_value=0, max_value=5000, places=4, allow_nan=False, allow_infinity=False)
money = st.decimals(min_value=0, max_value=200000, places=2, allow_nan=False, allow_infinity=False)
groups_st = st.lists(st.builds(ActGroup, st.sampled_from(UO_CODES), prices, st.integers(0, 5000)),
                     max_size=8)
lump_st = st.none() | st.builds(LumpSum, money, st.integers(1, 12))
revision_st = st.none() | st.builds(
    lambda fixed, base, cur: RevisionClause(fixed, 1 - fixed, base, cur),
    st.decimals(min_value=0, max_value=1, places=3),
    st.decimals(min_value=50, max_value=200, places=1),
    st.decimals(min_value=50, max_value=200, places=1))
penalty_st = st.none() | st.builds(
    LatePenalty, st.integers(0, 60), st.decimals(min_value=0, max_value=500, places=2),
    st.none() | money, st.none() | st.decimals(min_value=0, max_value=1, places=2))
input_st = st.builds(
    StatementInput, groups_st, lump_st, revision_st, st.booleans(), penalty_st, money,
    st.sampled_from([E("0"), E("0.055"), E("0.10"), E("0.20")]),
    st.sampled_from(["half_up", "half_even", "down"]),
    st.sampled_from(["half_up", "half_even", "down"]),
    st.sampled_from(["outside_vat_scope", "reduces_vat_base"]))


def _cents(x):
    return isinstance(x, Decimal) and x.as_tuple().exponent == -2


@settings(max_examples=300, deadline=None)
@given(inp=input_st)
def test_statement_properties(inp):
    s = compute_statement(inp)
    assert_no_float(s)
    assert sum((l.amount for l in s.lines), E("0.00")) == s.subtotal
    for line in s.lines:
        assert line.amount == line.gross_amount + line.revision_adjustment
        assert _cents(line.amount) and _cents(line.gross_amount)
    for name in ("subtotal", "penalties", "withholdings", "total_excl_tax", "vat",
                 "total_incl_tax", "amount_payable", "unabsorbed"):
        value = getattr(s, name)
        assert _cents(value), (name, value)
        assert value >= 0, (name, value)
    assert s.total_incl_tax == s.total_excl_tax + s.vat
    assert s.amount_payable == s.total_incl_tax - s.penalties_deducted_incl_tax
    assert s.amount_payable - s.unabsorbed == s.subtotal - s.withholdings - s.penalties + s.vat
    if s.penalty is not None:
        assert s.penalty.amount <= s.penalty.raw_amount
        if s.penalty.cap_amount is not None:
            assert s.penalty.amount <= s.penalty.cap_amount
        if inp.penalty.cap_rate is not None:
            assert s.penalty.amount <= s.subtotal * inp.penalty.cap_rate
    if inp.vat_rate == 0:
        assert s.vat == 0


@settings(max_examples=100, deadline=None)
@given(a=input_st, b=input_st)
def test_diff_properties(a, b):
    old, new = compute_statement(a), compute_statement(b)
    d = diff_statements(old, new)
    assert_no_float(d)
    assert sum((l.amount_delta for l in d.lines), E("0.00")) == d.subtotal_delta
    assert d.amount_payable_delta == new.amount_payable - old.amount_payable
    assert all(not l.changed for l in diff_statements(old, old).lines)
