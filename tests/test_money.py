"""fc_market.money: Decimal helpers, explicit rounding, exact splits."""
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fc_market.money import (D, format_fr, from_cents, is_cents, mul_cents, pro_rata, quantize,
                             quantize_cents, round_fraction, rounding_mode, split_evenly, to_cents)


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure arithmetic: no app, no database — overrides tests/conftest.py's autouse fixture."""
    yield


# --------------------------------------------------------------------------- D()

def test_d_accepts_str_int_decimal():
    assert D("12.50") == Decimal("12.50")
    assert str(D(" 12.50 ")) == "12.50"          # digits kept as written
    assert D(3) == Decimal(3)
    assert D(Decimal("0.1")) == Decimal("0.1")


@pytest.mark.parametrize("value", [0.1, 1.0, float("nan"), True])
def test_d_refuses_float_and_bool(value):
    with pytest.raises(TypeError):
        D(value)


@pytest.mark.parametrize("value", ["abc", "12,50", "NaN", "Infinity", ""])
def test_d_refuses_non_numbers(value):
    with pytest.raises(ValueError):
        D(value)


def test_d_refuses_other_types():
    with pytest.raises(TypeError):
        D(None)


# ---------------------------------------------------------------------- rounding

def test_rounding_modes_by_contract_name():
    assert rounding_mode("half_up") == ROUND_HALF_UP
    assert rounding_mode("half_even") == ROUND_HALF_EVEN
    assert rounding_mode("down") == ROUND_DOWN
    assert rounding_mode(ROUND_HALF_EVEN) == ROUND_HALF_EVEN
    with pytest.raises(ValueError):
        rounding_mode("banker")


@pytest.mark.parametrize("amount, mode, expected", [
    # 2,675 is exactly half-way between 2,67 and 2,68
    ("2.675", "half_up", "2.68"),
    ("2.675", "half_even", "2.68"),     # 8 is even
    ("2.665", "half_even", "2.66"),     # 6 is even
    ("2.665", "half_up", "2.67"),
    ("2.679", "down", "2.67"),          # truncation
    ("-2.675", "half_up", "-2.68"),     # ties away from zero
    ("-2.679", "down", "-2.67"),        # toward zero
    ("0.004", "half_up", "0.00"),
    ("5", "half_up", "5.00"),
])
def test_quantize_cents(amount, mode, expected):
    result = quantize_cents(amount, mode)
    assert result == Decimal(expected)
    assert result.as_tuple().exponent == -2     # always two decimals


def test_quantize_to_other_quanta():
    assert quantize("1.03456", "0.0001") == Decimal("1.0346")
    assert quantize("87.7", "1", ROUND_HALF_UP) == Decimal("88")


def test_round_fraction_is_exact_no_double_rounding():
    from fractions import Fraction
    # 15 / 3 000 = 0,005 exactly → half-up gives 0,01.
    # 0,00499…9 (32 nines) is below the half cent and must round down, whereas going
    # through a 28-digit Decimal first would give 0,005000… and then 0,01.
    assert round_fraction(Fraction(15, 3000)) == Decimal("0.01")
    assert round_fraction(Fraction(49999999999999999999999999999999, 10 ** 34)) == Decimal("0.00")


def test_pro_rata():
    # 1 000,00 × 30 / 365 = 82,1917808… → 82,19
    assert pro_rata("1000.00", 30, 365) == Decimal("82.19")
    # 100,00 × 1 / 3 = 33,333… → down 33,33 ; 200,00 × 2/3 = 133,333… → 133,33
    assert pro_rata("100.00", 1, 3, "down") == Decimal("33.33")
    assert pro_rata("200.00", 2, 3) == Decimal("133.33")
    # 0,05 × 1/2 = 0,025 → half-up 0,03, half-even 0,02
    assert pro_rata("0.05", 1, 2) == Decimal("0.03")
    assert pro_rata("0.05", 1, 2, "half_even") == Decimal("0.02")
    with pytest.raises(ZeroDivisionError):
        pro_rata("1", 1, 0)


def test_mul_cents():
    # 12 × 95,125 = 1 141,50 ; 3 × 0,3333 = 0,9999 → 1,00
    assert mul_cents(12, "95.125") == Decimal("1141.50")
    assert mul_cents(3, "0.3333") == Decimal("1.00")
    assert mul_cents(3, "0.3333", "down") == Decimal("0.99")


def test_cents_conversions():
    assert to_cents("12.34") == 1234
    assert to_cents("12.3") == 1230
    assert from_cents(1234) == Decimal("12.34")
    assert is_cents("1.10") and not is_cents("1.105")
    with pytest.raises(ValueError):
        to_cents("0.001")


# ------------------------------------------------------------------- split_evenly

def test_split_evenly_uo4_yearly_lump_sum():
    # 10 000,00 € = 1 000 000 cents ; 1 000 000 = 12 × 83 333 + 4 → the first 4 months get
    # 833,34 €, the 8 others 833,33 € ; 4 × 833,34 + 8 × 833,33 = 3 333,36 + 6 666,64 = 10 000,00
    parts = split_evenly("10000.00", 12)
    assert parts[:4] == [Decimal("833.34")] * 4
    assert parts[4:] == [Decimal("833.33")] * 8
    assert sum(parts) == Decimal("10000.00")


def test_split_evenly_small_and_negative():
    assert split_evenly("0.05", 3) == [Decimal("0.02"), Decimal("0.02"), Decimal("0.01")]
    assert split_evenly("-0.05", 3) == [Decimal("-0.02"), Decimal("-0.02"), Decimal("-0.01")]
    assert split_evenly("0.00", 2) == [Decimal("0.00"), Decimal("0.00")]
    assert split_evenly("7.00", 1) == [Decimal("7.00")]


def test_split_evenly_refuses_bad_input():
    with pytest.raises(ValueError):
        split_evenly("10.001", 3)           # not a whole number of cents
    with pytest.raises(ValueError):
        split_evenly("10.00", 0)
    with pytest.raises(TypeError):
        split_evenly(10.0, 3)


@given(cents=st.integers(min_value=-10 ** 12, max_value=10 ** 12), n=st.integers(1, 400))
def test_split_evenly_property(cents, n):
    total = from_cents(cents)
    parts = split_evenly(total, n)
    assert len(parts) == n
    assert sum(parts, Decimal("0.00")) == total
    assert all(isinstance(p, Decimal) and is_cents(p) for p in parts)
    in_cents = [to_cents(p) for p in parts]
    assert max(in_cents) - min(in_cents) <= 1
    # remainder cents go first: magnitudes never increase along the list
    assert all(abs(a) >= abs(b) for a, b in zip(in_cents, in_cents[1:]))


@given(a=st.decimals(min_value=-10 ** 9, max_value=10 ** 9, places=4, allow_nan=False,
                     allow_infinity=False),
       mode=st.sampled_from(["half_up", "half_even", "down"]))
def test_quantize_cents_matches_decimal_quantize(a, mode):
    # For a 4-decimal input, Decimal's own quantize is exact: both must agree.
    assert quantize_cents(a, mode) == a.quantize(Decimal("0.01"), rounding_mode(mode))


# -------------------------------------------------------------------- format_fr

def test_format_fr():
    assert format_fr(Decimal("12000.00"), sep=" ") == "12 000,00"
    assert format_fr(Decimal("1234567.891"), 2, sep=" ") == "1 234 567,89"
    assert format_fr(Decimal("-0.5"), 2) == "-0,50"
    assert format_fr(1000) == "1\u202f000"
