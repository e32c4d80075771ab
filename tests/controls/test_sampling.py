"""Service-fait control sampling (fc_market.controls.sampling)."""
import hashlib
import dataclasses
import math
import random
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fc_market.controls.sampling import (METHOD, METHOD_V1, ControlledItem, Extrapolation,
                                         allocate, draw_sample, rate_with_ci, sample_size,
                                         stratum_seed, withholding, z_score)

E = Decimal


@pytest.fixture(autouse=True)
def _clean_database():
    """Pure arithmetic: no app, no database — overrides tests/conftest.py's autouse fixture."""
    yield


def no_float(obj):
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return all(no_float(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    if isinstance(obj, dict):
        return all(no_float(k) and no_float(v) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return all(no_float(x) for x in obj)
    return not isinstance(obj, float)


# ---------------------------------------------------------------------- z-score

def test_z_scores_at_six_decimals():
    assert z_score(E("0.95")) == E("1.959964")
    assert z_score(E("0.99")) == E("2.575829")
    assert z_score(E("0.90")) == E("1.644854")
    with pytest.raises(TypeError):
        z_score(0.95)
    with pytest.raises(ValueError):
        z_score(E("1"))


# ------------------------------------------------------------------ sample size

def test_sample_size_population_1000():
    # z = 1,959964 ; z² = 3,841458881296
    # n0 = 3,841458881296 × 0,5 × 0,5 / 0,10² = 0,960364720324 / 0,01 = 96,0364720324 → 96,0365
    # n = 96,03647 / (1 + 95,03647 / 1 000) = 96,03647 / 1,09503647 = 87,7016 → 88
    s = sample_size(1000)
    assert s.z == E("1.959964")
    assert s.n0 == E("96.0365")
    assert s.n_corrected == E("87.7016")
    assert s.n == 88
    assert no_float(s)
    assert "n0 = z² × p × (1 − p) / e² = 1,959964² × 0,5 × 0,5 / 0,10² = 96,0365" in s.explanation
    assert "= 87,7016" in s.explanation
    assert "arrondi à l'entier supérieur : n = 88" in s.explanation


def test_sample_size_with_textbook_z():
    # n0 = 1,96² × 0,5 × 0,5 / 0,10² = 3,8416 × 0,25 / 0,01 = 96,04
    # n = 96,04 / (1 + 95,04 / 1 000) = 96,04 / 1,09504 = 87,7046 → 88
    s = sample_size(1000, z=E("1.96"))
    assert s.n0 == E("96.0400") and s.n_corrected == E("87.7046") and s.n == 88
    assert "1,96² × 0,5 × 0,5 / 0,10² = 96,0400" in s.explanation


@pytest.mark.parametrize("population, margin, expected", [
    (200, "0.10", 66),      # 96,0365 / (1 + 95,0365 / 200)    = 96,0365 / 1,4751825 = 65,10 → 66
    (50, "0.10", 34),       # 96,0365 / (1 + 95,0365 / 50)     = 33,11 → 34
    (10000, "0.05", 370),   # n0 = 3,841459 × 0,25 / 0,0025 = 384,1459 ;
                            # 384,1459 / (1 + 383,1459 / 10 000) = 369,97 → 370
    (1, "0.10", 1),         # n0 / (1 + (n0 − 1) / 1) = n0 / n0 = 1
    (0, "0.10", 0),
])
def test_sample_size_other_cases(population, margin, expected):
    assert sample_size(population, margin=E(margin)).n == expected


def test_sample_size_refuses_bad_parameters():
    with pytest.raises(ValueError):
        sample_size(100, margin=E("0"))
    with pytest.raises(ValueError):
        sample_size(100, expected_rate=E("1"))
    with pytest.raises(TypeError):
        sample_size(100, margin=0.1)
    with pytest.raises(ValueError):
        sample_size(-1)


@settings(max_examples=200, deadline=None)
@given(N=st.integers(0, 10 ** 6), margin=st.sampled_from(["0.01", "0.03", "0.05", "0.10", "0.20"]),
       conf=st.sampled_from(["0.80", "0.90", "0.95", "0.99"]),
       p=st.sampled_from(["0.1", "0.3", "0.5", "0.9"]))
def test_sample_size_properties(N, margin, conf, p):
    s = sample_size(N, E(margin), E(conf), E(p))
    assert 0 <= s.n <= N
    assert s.n <= math.ceil(s.n0) + 1
    if N:
        assert s.n >= 1


# ------------------------------------------------------------------- allocation

def test_allocation_proportional_to_value_with_cap_and_minimum():
    strata = {"UO0": (300, E("3000.00")), "UO1": (500, E("50000.00")),
              "UO2.1": (10, E("8000.00")), "UO2.2": (0, E("0"))}
    a = allocate(strata, 88, min_per_stratum=5)
    # round 1, total value 61 000: UO2.1 quota 88 × 8 000 / 61 000 = 11,54 ≥ its 10 acts → all 10
    # round 2, 78 seats over 53 000: UO0 78 × 3 000 / 53 000 = 4,4151 ; UO1 78 × 50 000 / 53 000
    #   = 73,5849 → 4 + 73 = 77, the last seat to the largest remainder (0,5849: UO1) → 4 / 74
    # minimum 5: UO0 4 → 5 ; total 5 + 74 + 10 = 89 > 88 (minimums are added)
    assert a.sizes == {"UO0": 5, "UO1": 74, "UO2.1": 10, "UO2.2": 0}
    assert a.quotas["UO0"] == E("4.4151") and a.quotas["UO1"] == E("73.5849")
    assert a.total == 89 and a.target == 88
    assert a.basis == "billed_value"
    assert "du fait des minimums" in a.explanation


def test_allocation_largest_remainder():
    strata = {"A": (100, E("600")), "B": (100, E("300")), "C": (100, E("100"))}
    # n = 10: quotas 6 / 3 / 1 exactly
    assert allocate(strata, 10).sizes == {"A": 6, "B": 3, "C": 1}
    # n = 11: quotas 6,6 / 3,3 / 1,1 → 6 / 3 / 1 = 10, 1 seat to the largest remainder (A: 0,6)
    assert allocate(strata, 11).sizes == {"A": 7, "B": 3, "C": 1}
    # tie (1,5 / 1,5, same value): broken by code → A
    assert allocate({"B": (10, E("100")), "A": (10, E("100"))}, 3).sizes == {"B": 1, "A": 2}


def test_allocation_by_count_when_no_value_and_census():
    # no billed value at all: weights are the counts, 4 × 30 / 40 = 3, 4 × 10 / 40 = 1
    a = allocate({"A": (30, E("0")), "B": (10, E("0"))}, 4)
    assert a.sizes == {"A": 3, "B": 1} and a.basis == "count"
    # n above the population: every act is controlled
    assert allocate({"A": (3, E("10")), "B": (2, E("99"))}, 50).sizes == {"A": 3, "B": 2}


strata_st = st.dictionaries(
    st.sampled_from(["UO0", "UO1", "UO2.1", "UO2.2", "UO4"]),
    st.tuples(st.integers(0, 500), st.decimals(min_value=0, max_value=10 ** 6, places=2)),
    min_size=1)


@settings(max_examples=300, deadline=None)
@given(strata=strata_st, n=st.integers(0, 1500), minimum=st.integers(0, 10))
def test_allocation_properties(strata, n, minimum):
    a = allocate(strata, n, minimum)
    population = sum(c for c, _ in strata.values())
    for code, (count, _) in strata.items():
        assert min(minimum, count) <= a.sizes[code] <= count
    assert a.total == sum(a.sizes.values())
    assert a.total >= min(n, population)
    if minimum == 0:
        assert a.total == min(n, population)
    assert no_float(a)


# ------------------------------------------------------------------------- draw

ITEMS = {"UO0": list(range(1, 301)), "UO1": [f"A{i:04d}" for i in range(500)]}


def test_draw_is_reproducible_and_depends_on_the_seed():
    sizes = {"UO0": 5, "UO1": 8}
    d1 = draw_sample(ITEMS, sizes, "IDF/2025-03/ctrl-1")
    shuffled = {k: random.Random(7).sample(v, len(v)) for k, v in ITEMS.items()}
    d2 = draw_sample(shuffled, sizes, "IDF/2025-03/ctrl-1")     # order of ids does not matter
    assert d1.selected == d2.selected
    assert d1.method == METHOD == "stratified-proportional-value/v2"
    assert {k: len(v) for k, v in d1.selected.items()} == sizes
    assert all(list(v) == sorted(v) and set(v) <= set(ITEMS[k]) for k, v in d1.selected.items())
    d3 = draw_sample(ITEMS, sizes, "IDF/2025-03/ctrl-2")
    assert d3.selected != d1.selected
    assert d1.stratum_seeds["UO0"] == format(stratum_seed("IDF/2025-03/ctrl-1", "UO0"), "064x")
    assert no_float(d1)


def test_draw_strata_are_independent():
    # adding a stratum does not change what is drawn elsewhere
    d1 = draw_sample({"UO0": ITEMS["UO0"]}, {"UO0": 5}, "s")
    d2 = draw_sample(ITEMS, {"UO0": 5, "UO1": 3}, "s")
    assert d1.selected["UO0"] == d2.selected["UO0"]


def test_draw_regression_fixture():
    # Stored result (not hand-computed): detects a change of Random.sample / seeding across
    # Python versions, which would require a new method version.
    d = draw_sample({"UO0": list(range(300))}, {"UO0": 3}, "lot-01/2025-03", METHOD_V1)
    assert d.selected["UO0"] == (57, 85, 296)
    # v2 seeds with SHA-256("lot-01/2025-03|UO0"): another generator, other items
    d = draw_sample({"UO0": list(range(300))}, {"UO0": 3}, "lot-01/2025-03")
    assert d.selected["UO0"] == (60, 116, 299)
    assert d.stratum_seeds["UO0"] == hashlib.sha256(b"lot-01/2025-03|UO0").hexdigest()


def test_draw_accepts_an_allocation_and_checks_sizes():
    a = allocate({"UO0": (300, E("3000")), "UO1": (500, E("50000"))}, 20, 2)
    d = draw_sample(ITEMS, a, "x")
    assert d.size == a.total
    with pytest.raises(ValueError):
        draw_sample({"UO0": [1, 2]}, {"UO0": 3}, "x")
    with pytest.raises(ValueError):
        draw_sample({"UO0": [1, 1, 2]}, {"UO0": 1}, "x")
    with pytest.raises(ValueError):
        draw_sample({"UO0": [1, 2]}, {"UO0": 1}, "")


# ------------------------------------------------------------------- estimation

def reference_wilson(x, n, N, z=1.959964):
    """Independent float implementation, for cross-checking only."""
    p = x / n
    k = z * z * ((N - n) / (N - 1))
    d = 1 + k / n
    c = (p + k / (2 * n)) / d
    h = math.sqrt(k * (p * (1 - p) / n + k / (4 * n * n))) / d
    return max(c - h, 0.0), min(c + h, 1.0)


def test_rate_with_ci_wilson_fpc():
    # 5 non-conforming in 88 out of 1 000: p = 5 / 88 = 0,056818
    # f = (1 000 − 88) / 999 = 0,912913 ; k = z² f = 3,841458881 × 0,912913 = 3,506917
    # centre = (p + k / 176) / (1 + k / 88) = (0,056818 + 0,019926) / 1,039851 = 0,073803
    # half = √(k × (p (1 − p) / 88 + k / 30 976)) / 1,039851 = 0,048397
    # → [0,0254058 ; 0,1221996] → [0,025405 ; 0,122200] (lower rounded down, upper up)
    r = rate_with_ci(5, 88, 1000)
    assert r.rate == E("0.056818")
    assert r.fpc == E("0.912913")
    assert (r.lower, r.upper) == (E("0.025405"), E("0.122200"))
    lo, hi = reference_wilson(5, 88, 1000)
    assert abs(float(r.lower) - lo) < 1e-6 and abs(float(r.upper) - hi) < 1e-6
    assert no_float(r)


def test_rate_with_ci_limits():
    # whole population controlled: f = 0, the interval is the rate itself
    r = rate_with_ci(3, 40, 40)
    assert r.lower == r.rate == r.upper == E("0.075000")
    # no non-conformity: lower bound 0
    r = rate_with_ci(0, 88, 1000)
    assert r.rate == 0 and r.lower == 0 and r.upper > 0
    # huge population: the classic Wilson interval (5 / 88 at 95 %: about [0,0245 ; 0,1262])
    r = rate_with_ci(5, 88, 10 ** 9)
    assert (r.lower, r.upper) == (E("0.024511"), E("0.126200"))
    with pytest.raises(ValueError):
        rate_with_ci(9, 8, 100)
    with pytest.raises(ValueError):
        rate_with_ci(1, 200, 100)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_rate_with_ci_properties(data):
    N = data.draw(st.integers(2, 10 ** 6))
    n = data.draw(st.integers(1, min(N, 2000)))
    x = data.draw(st.integers(0, n))
    r = rate_with_ci(x, n, N)
    assert 0 <= r.lower <= r.rate <= r.upper <= 1
    lo, hi = reference_wilson(x, n, N)
    assert float(r.lower) <= lo + 1e-9 and float(r.upper) >= hi - 1e-9


# ------------------------------------------------------------------ withholding

def test_withholding_items():
    items = [ControlledItem(1, E("95.00"), "conforme"),
             ControlledItem(2, E("350.00"), "non_conforme"),
             ControlledItem(3, E("362.50"), "non_justifie"),
             ControlledItem(4, E("1200.00"), "conforme")]
    # 350,00 + 362,50 = 712,50
    w = withholding(items)
    assert (w.amount, w.method, w.item_ids) == (E("712.50"), "items", (2, 3))
    assert withholding([items[0]]).amount == E("0.00")


def test_withholding_extrapolation():
    # 5 / 88 × 50 000,00 = 2 840,909090… → 2 840,91 (the rate is not rounded first)
    w = withholding(extrapolation=Extrapolation(5, 88, E("50000.00")))
    assert (w.amount, w.method, w.rate) == (E("2840.91"), "extrapolation", E("0.056818"))
    # 1 / 8 × 100,04 = 12,505 → half-up 12,51 ; half-even 12,50
    assert withholding(extrapolation=Extrapolation(1, 8, E("100.04"))).amount == E("12.51")
    assert withholding(extrapolation=Extrapolation(1, 8, E("100.04")),
                       rounding="half_even").amount == E("12.50")
    assert no_float(w)


def test_withholding_requires_exactly_one_method():
    with pytest.raises(ValueError):
        withholding()
    with pytest.raises(ValueError):
        withholding([], extrapolation=Extrapolation(1, 8, E("1")))
    with pytest.raises(ValueError):
        ControlledItem(1, E("1"), "douteux")
    with pytest.raises(TypeError):
        ControlledItem(1, 1.0, "conforme")
