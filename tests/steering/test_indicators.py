"""Pure indicator arithmetic: pacing, forecast, medians, diversity, pooled rates."""
from types import SimpleNamespace

import pytest

from fc_market.steering.indicators import (LotView, breached, forecast, gini_simpson,
                                           median_from_hist, months_back, pacing,
                                           pro_rated_target)


@pytest.fixture(autouse=True)
def _clean_database():
    """No database here."""
    yield


def test_pro_rated_target_flat_and_with_a_profile():
    assert pro_rated_target(1200, None, 3) == pytest.approx(300)
    profile = [2, 2, 2, 1, 1, 1, 0, 0, 1, 1, 1, 0]   # 12 weights, sum 12
    assert pro_rated_target(1200, profile, 3) == pytest.approx(600)
    assert pro_rated_target(1200, profile, 8) == pytest.approx(900)
    assert pro_rated_target(1200, profile, 12) == pytest.approx(1200)


def test_pacing_compares_cumulated_entries_with_the_pro_rated_target():
    done, target, achievement = pacing([100, 80, 90] + [0] * 9, 1200, None, 3)
    assert (done, target) == (270, 300)
    assert achievement == pytest.approx(0.9)


def test_forecast_extends_the_linear_trend():
    # 100, 110, 120: +10 a month; April..December: 130..210 (9 months, sum 1530)
    assert forecast([100, 110, 120] + [0] * 9, None, 3) == pytest.approx(330 + 1530)
    # fewer than three months: the mean run rate
    assert forecast([90, 110] + [0] * 10, None, 2) == pytest.approx(200 + 100 * 10)
    # a falling trend never forecasts negative months
    assert forecast([300, 200, 100] + [0] * 9, None, 3) == pytest.approx(600)
    assert forecast([0] * 12, None, 0) is None


def test_forecast_is_deseasonalised_by_the_profile():
    profile = [2] * 6 + [1] * 6          # first half twice as busy
    monthly = [200] * 6                  # exactly on the profile: 100 per "weight unit"
    assert forecast(monthly + [0] * 6, profile, 6) == pytest.approx(1200 + 600)


def test_median_from_histogram():
    assert median_from_hist({"3": 1, "10": 1, "5": 1}) == 5
    assert median_from_hist({"3": 2, "10": 2}) == 6.5
    assert median_from_hist({}) is None


def test_gini_simpson_normalised():
    assert gini_simpson({"a": 10}, 6) == 0
    assert gini_simpson({str(i): 5 for i in range(6)}, 6) == pytest.approx(1.0)
    assert gini_simpson({}, 6) is None


def test_months_back_crosses_years():
    assert months_back("2025-02", 3) == ["2024-12", "2025-01", "2025-02"]


def test_breached_below_and_above():
    assert breached("below", 0.8, "0.85") and not breached("below", 0.85, "0.85")
    assert breached("above", 0.11, "0.10") and not breached("above", 0.10, "0.10")


def _row(period, **values):
    base = dict(period=period, entries=0, acts=0, remote_acts=0, beneficiaries=0, complaints=0,
                l1_respondents=0, l1_satisfied=0, l2_respondents=0, l2_satisfied=0,
                usefulness_respondents=0, usefulness_useful=0, delay_hist=None, profile=None,
                csf_judged=0, csf_nonconforming=0, l1_cohort=None, l1_no_level2=None,
                uo0_cohort=None, uo0_no_followup=None, l2_starts=0, l2_starts_implementation=0,
                project_acts=0, project_short=0, project_cohort=None, project_followed=None)
    base.update(values)
    return SimpleNamespace(**base)


def test_rates_are_pooled_over_the_window_and_carry_their_sample():
    rows = [_row("2025-01", l1_respondents=10, l1_satisfied=10),
            _row("2025-02", l1_respondents=10, l1_satisfied=5),
            _row("2025-03", l1_respondents=20, l1_satisfied=10),
            _row("2024-12", l1_respondents=100, l1_satisfied=0)]   # outside the 3-month window
    reading = LotView(SimpleNamespace(population=1000), rows, "2025-03").read("satisfaction_l1")
    assert reading.value == pytest.approx(25 / 40) and reading.sample == 40


def test_volume_up_quality_down_reads_both_windows():
    previous = [_row(p, entries=100, l1_respondents=100, l1_satisfied=95)
                for p in ("2024-01", "2024-02", "2024-03")]
    recent = [_row(p, entries=130, l1_respondents=100, l1_satisfied=85)
              for p in ("2025-01", "2025-02", "2025-03")]
    reading = LotView(SimpleNamespace(population=1000), previous + recent, "2025-03") \
        .read("volume_up_quality_down")
    assert reading.value == pytest.approx(0.10)    # min(+30 % entries, -10 points)
    steady = [_row(p, entries=130, l1_respondents=100, l1_satisfied=95)
              for p in ("2025-01", "2025-02", "2025-03")]
    reading = LotView(SimpleNamespace(population=1000), previous + steady, "2025-03") \
        .read("volume_up_quality_down")
    assert reading.value == pytest.approx(0.0)


def test_entries_per_1000_are_annualised():
    rows = [_row(p, entries=50) for p in ("2025-01", "2025-02", "2025-03")]
    reading = LotView(SimpleNamespace(population=100_000), rows, "2025-03").read("entries_per_1000")
    assert reading.value == pytest.approx(600 * 1000 / 100_000)


def test_forecast_uses_last_years_seasonality_without_a_contract_profile():
    season = [120, 110, 100, 100, 100, 100, 60, 40, 110, 130, 120, 110]
    rows = [_row(f"2024-{m:02d}", entries=v) for m, v in enumerate(season, start=1)]
    rows += [_row(f"2025-{m:02d}", entries=round(v * 1.1)) for m, v in enumerate(season[:8], start=1)]
    target = SimpleNamespace(entries=1200, monthly_profile=None)
    view = LotView(SimpleNamespace(population=10_000), rows, "2025-08", target)
    reading = view.read("forecast_achievement")
    assert reading.value == pytest.approx(1.1 * sum(season) / 1200, rel=1e-3)
    assert "saisonnalité de 2024" in reading.detail
