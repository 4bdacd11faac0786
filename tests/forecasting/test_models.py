from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecasting.dataset import SeriesPanel, period_range
from forecasting.models import (
    ADIDA,
    IMAPA,
    TSB,
    Combination,
    Croston,
    CrostonSBA,
    GlobalGBM,
    Naive,
    SeasonalNaive,
    Zero,
)
from forecasting.models.base import conformal_quantile, series_scale
from forecasting.models.classic import aggregate


def make_panel(values: np.ndarray, freq: str = "W") -> SeriesPanel:
    n, t = values.shape
    return SeriesPanel(
        values=values.astype(np.float64),
        keys=pd.DataFrame({"k": [f"s{i}" for i in range(n)]}),
        periods=period_range(pd.Timestamp("2024-01-01"), t, "W"),
        freq="W",
    )


def small_gbm(**kw: object) -> GlobalGBM:
    return GlobalGBM(max_iter=20, quantile_iter=10, **kw)  # type: ignore[arg-type]


def test_naive_zero_seasonal() -> None:
    v = np.arange(60, dtype=float)[None, :] % 7
    p = make_panel(v)
    assert Naive(calibrate=False).fit(p).predict(3).mean.tolist() == [[v[0, -1]] * 3]
    assert Zero(calibrate=False).fit(p).predict(3).mean.tolist() == [[0.0] * 3]
    sn = SeasonalNaive(calibrate=False).fit(p).predict(3).mean
    np.testing.assert_array_equal(sn[0], v[0, 60 - 52 : 60 - 52 + 3])


def test_croston_and_sba_constant_pattern() -> None:
    # demand 4 every second period: size 4, interval 2 -> Croston 2, SBA 2*(1-alpha/2)
    v = np.tile([0.0, 4.0], 20)[None, :]
    p = make_panel(v)
    c = Croston(alpha=0.1, calibrate=False).fit(p).predict(2).mean
    s = CrostonSBA(alpha=0.1, calibrate=False).fit(p).predict(2).mean
    assert c[0, 0] == pytest.approx(2.0, rel=0.01)  # intervals start at their mean 1.95
    assert s[0, 0] == pytest.approx(c[0, 0] * 0.95)


def test_tsb_decays_after_long_zero_run_but_croston_does_not() -> None:
    v = np.concatenate([np.tile([5.0, 0.0], 10), np.zeros(20)])[None, :]
    p = make_panel(v)
    tsb = TSB(alpha=0.1, beta=0.2, calibrate=False).fit(p).predict(1).mean[0, 0]
    cro = Croston(alpha=0.1, calibrate=False).fit(p).predict(1).mean[0, 0]
    assert tsb < 0.1 * cro


def test_aggregate_aligns_to_the_end() -> None:
    v = np.arange(7, dtype=float)[None, :]
    np.testing.assert_array_equal(aggregate(v, 3), [[1 + 2 + 3, 4 + 5 + 6]])


def test_adida_and_imapa_on_regular_series() -> None:
    v = np.tile([0.0, 0.0, 6.0], 12)[None, :]  # mean 2 per period, interval 3
    p = make_panel(v)
    assert ADIDA(calibrate=False).fit(p).predict(1).mean[0, 0] == pytest.approx(2.0)
    assert IMAPA(calibrate=False).fit(p).predict(1).mean[0, 0] == pytest.approx(2.0, rel=0.2)


def test_conformal_quantile_finite_sample() -> None:
    scores = np.arange(1, 11, dtype=float)  # n=10, level .8 -> ceil(11*.8)=9th smallest
    assert conformal_quantile(scores, 0.8) == 9.0
    assert conformal_quantile(scores, 0.95) == 10.0


def test_series_scale_floor_for_flat_series() -> None:
    s = series_scale(np.array([[0, 2, 0, 2], [0, 0, 0, 0]], dtype=float))
    assert s[0] == pytest.approx(2.0)
    assert s[1] == pytest.approx(0.2)


ALL = [Naive, Zero, SeasonalNaive, Croston, CrostonSBA, TSB, ADIDA, IMAPA]


@settings(max_examples=15, deadline=None)
@given(
    data=st.lists(
        st.lists(st.sampled_from([0.0, 0.0, 0.0, 1.0, 3.0, 10.0]), min_size=16, max_size=16),
        min_size=2,
        max_size=4,
    ),
    which=st.integers(0, len(ALL) - 1),
)
def test_intervals_ordered_and_non_negative(data: list[list[float]], which: int) -> None:
    p = make_panel(np.array(data))
    fc = ALL[which](horizon=3, calibration_origins=4).fit(p).predict(3)
    for arr in (fc.mean, fc.p10, fc.p50, fc.p90):
        assert np.all(np.isfinite(arr))
        assert np.all(arr >= 0)
    assert np.all(fc.p10 <= fc.p50)
    assert np.all(fc.p50 <= fc.p90)


def test_gbm_and_combination_intervals_ordered(panel: SeriesPanel) -> None:
    for model in (
        small_gbm(horizon=4),
        Combination([small_gbm(), TSB(), IMAPA()], horizon=4, quantile_source="global_gbm"),
    ):
        fc = model.fit(panel).predict(4)
        assert fc.mean.shape == (panel.n_series, 4)
        assert np.all(fc.p10 >= 0)
        assert np.all((fc.p10 <= fc.p50) & (fc.p50 <= fc.p90))
        assert model.calibration_ is not None
        assert model.calibration_.n_scores > 0
    gbm = small_gbm(horizon=4).fit(panel)
    assert set(gbm._models) == {"mean", "q10", "q50", "q90"}  # really boosted, no fallback


def test_conformal_intervals_reach_nominal_coverage_on_iid_data() -> None:
    # Poisson(3) series: a calibrated 80 % interval should cover about 80 % of new draws
    rng = np.random.default_rng(1)
    hist = rng.poisson(3.0, size=(400, 40)).astype(float)
    future = rng.poisson(3.0, size=(400, 1)).astype(float)
    fc = TSB(horizon=1, calibration_origins=10).fit(make_panel(hist)).predict(1)
    cov = float(np.mean((future >= fc.p10) & (future <= fc.p90)))
    assert 0.72 <= cov <= 0.92


def test_clone_is_unfitted_and_keeps_params() -> None:
    m = TSB(alpha=0.2, horizon=5)
    m.fit(make_panel(np.tile([0.0, 1.0], (2, 10))))
    c = m.clone()
    assert c.params() == m.params()
    assert c.panel_ is None
    with pytest.raises(RuntimeError):
        c.predict(1)


def test_short_history_still_gets_calibrated_intervals() -> None:
    # 8 periods, horizon 6: no origin has 6 periods of actuals after it -> partial origins
    rng = np.random.default_rng(3)
    p = make_panel(rng.poisson(2.0, size=(30, 8)).astype(float))
    m = TSB(horizon=6, calibration_origins=4).fit(p)
    assert m.calibration_ is not None
    fc = m.predict(6)
    assert np.all(fc.p90 > fc.p10)
