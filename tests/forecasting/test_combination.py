"""Inner-validated combination weights, intermittency classes, grouped conformal intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.dataset import SeriesPanel, period_range
from forecasting.errors import InvalidParameterError
from forecasting.models import (
    IMAPA,
    SES,
    TSB,
    Combination,
    GlobalGBM,
    Naive,
    TopDown,
    Zero,
    default_model,
)
from forecasting.models.base import intermittency_class
from forecasting.models.combination import select_weights, simplex_grid


def make_panel(values: np.ndarray) -> SeriesPanel:
    n, t = values.shape
    return SeriesPanel(
        values=values.astype(np.float64),
        keys=pd.DataFrame({"k": [f"s{i}" for i in range(n)]}),
        periods=period_range(pd.Timestamp("2024-01-01"), t, "W"),
        freq="W",
    )


def poisson_panel(seed: int = 0, n: int = 60, t: int = 60) -> SeriesPanel:
    rng = np.random.default_rng(seed)
    rates = np.concatenate(
        [np.full(n // 3, 0.05), np.full(n // 3, 0.6), np.full(n - 2 * (n // 3), 6.0)]
    )
    return make_panel(rng.poisson(rates[:, None], size=(n, t)).astype(float))


def test_simplex_grid_rows_sum_to_one_and_start_at_equal_weights() -> None:
    g = simplex_grid(3, 0.25)
    assert g.shape == (15, 3)
    np.testing.assert_allclose(g.sum(axis=1), 1.0)
    assert np.all(g >= 0)
    # nearest to equal weights first (a tie-break towards equal weights)
    assert np.abs(g[0] - 1 / 3).max() <= np.abs(g[1:] - 1 / 3).max(axis=1).min() + 1e-12
    with pytest.raises(InvalidParameterError):
        simplex_grid(3, 0.3)


def test_intermittency_class_by_nonzero_share() -> None:
    v = np.zeros((3, 26))
    v[1, ::3] = 1.0  # 9/26 non-zero -> intermittent
    v[2, :] = 2.0  # regular
    v[0, 0] = 5.0  # 1/26 -> sparse
    assert intermittency_class(v).tolist() == [0, 1, 2]
    assert intermittency_class(np.zeros((2, 0))).tolist() == [0, 0]


def test_select_weights_picks_the_right_member_per_class() -> None:
    # class 0: member A is exact; class 1: member B is exact
    rng = np.random.default_rng(0)
    n, h = 60, 3
    truth = rng.poisson(4.0, size=(n, h)).astype(float)
    train = rng.poisson(4.0, size=(n, 20)).astype(float)
    cls = np.repeat([0, 1], n // 2).astype(np.intp)
    a = np.where(cls[:, None] == 0, truth, truth + 5.0)
    b = np.where(cls[:, None] == 1, truth, truth + 5.0)
    w = select_weights([[a], [b]], [truth], [train], [cls], 2, simplex_grid(2, 0.25), 10)
    np.testing.assert_allclose(w, [[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    # too few series in a class -> the weights chosen on all classes together
    w2 = select_weights([[a], [b]], [truth], [train], [cls], 2, simplex_grid(2, 0.25), 1000)
    np.testing.assert_allclose(w2[0], w2[1])


def test_inner_weights_sum_to_one_and_prefer_the_good_member() -> None:
    p = poisson_panel()
    combo = Combination([Zero(), SES()], horizon=4, weighting="inner", calibration_origins=4)
    combo.fit(p)
    assert combo.weights_ is not None
    np.testing.assert_allclose(combo.weights_.sum(axis=1), 1.0)
    # on regular Poisson(6) series the all-zero member must not win
    assert combo.member_weights()["class_2"]["ses"] >= 0.75
    fc = combo.predict(4)
    assert np.all(fc.mean >= 0)
    assert np.all((fc.p10 <= fc.p50) & (fc.p50 <= fc.p90))


def test_inner_weights_without_conformal_step() -> None:
    combo = Combination([Naive(), SES()], horizon=2, weighting="inner", calibrate=False)
    combo.fit(poisson_panel(1))
    assert combo.weights_ is not None
    assert combo.calibration_ is None


def test_weight_origins_end_where_calibration_origins_begin() -> None:
    p = poisson_panel(t=40)
    combo = Combination([Naive(), SES()], horizon=4, weighting="inner", calibration_origins=4)
    cal = combo.calibration_origin_indices(p)
    w = combo.weight_origin_indices(p)
    assert cal == [33, 34, 35, 36]
    assert w == [26, 27, 28, 29]
    assert max(w) + combo.horizon <= min(cal)  # weight actuals never overlap calibration ones
    # short history: falls back to the calibration origins
    short = make_panel(np.ones((3, 9)))
    assert combo.weight_origin_indices(short) == combo.calibration_origin_indices(short)


def test_weights_do_not_see_the_calibration_periods() -> None:
    # the weights are chosen on periods before the calibration actuals: changing every value
    # from the first calibration origin on must leave them unchanged (it changes intervals)
    p = poisson_panel(2, t=60)
    combo = Combination([TSB(), SES(), TopDown()], horizon=4, weighting="inner")
    first_cal = combo.calibration_origin_indices(p)[0]
    changed = p.values.copy()
    changed[:, first_cal:] = changed[:, first_cal:] * 3 + 7
    a = combo.clone().fit(p)
    b = combo.clone().fit(make_panel(changed))
    assert a.weights_ is not None
    assert b.weights_ is not None
    np.testing.assert_array_equal(a.weights_, b.weights_)
    assert a.calibration_ is not None
    assert b.calibration_ is not None
    assert not np.array_equal(a.calibration_.upper, b.calibration_.upper)


def test_grouped_asymmetric_conformal_intervals_ordered_and_non_negative() -> None:
    p = poisson_panel(4)
    for interval in ("symmetric", "asymmetric"):
        m = TSB(horizon=3, calibration_origins=6, interval=interval, conformal_groups=True)
        m.min_group_scores = 10
        fc = m.fit(p).predict(3)
        assert m.calibration_ is not None
        assert m.calibration_.lower.shape == (3, 3)
        assert np.all(fc.p10 >= 0)
        assert np.all((fc.p10 <= fc.p50) & (fc.p50 <= fc.p90))
        # sparse series get narrower intervals than regular ones
        cls = intermittency_class(p.values)
        width = (fc.p90 - fc.p10).mean(axis=1)
        assert width[cls == 0].mean() < width[cls == 2].mean()
    with pytest.raises(InvalidParameterError):
        TSB(interval="both")


def test_top_down_and_ses_levels() -> None:
    v = np.array([[1.0] * 30, [3.0] * 30])
    p = make_panel(v)
    td = TopDown(calibrate=False).fit(p).predict(2).mean
    np.testing.assert_allclose(td, [[1.0, 1.0], [3.0, 3.0]])
    ses = SES(calibrate=False).fit(p).predict(2).mean
    np.testing.assert_allclose(ses, [[1.0, 1.0], [3.0, 3.0]])
    assert TopDown(calibrate=False).fit(make_panel(np.zeros((2, 5)))).predict(1).mean.sum() == 0
    with pytest.raises(InvalidParameterError):
        TopDown(share_window=0)


def test_default_model_is_inner_weighted_and_ordered() -> None:
    p = poisson_panel(5)
    m = default_model(4)
    assert isinstance(m, Combination)
    assert m.weighting == "inner"
    assert [x.name for x in m.members] == ["global_gbm", "tsb", "imapa", "ses", "top_down"]
    assert isinstance(m.members[0], GlobalGBM)
    m.members[0] = GlobalGBM(max_iter=10, quantile_iter=5, quantile_levels=(0.5,))
    fc = m.fit(p).predict(4)
    assert m.weights_ is not None
    np.testing.assert_allclose(m.weights_.sum(axis=1), 1.0)
    assert np.all(fc.p10 >= 0)
    assert np.all((fc.p10 <= fc.p50) & (fc.p50 <= fc.p90))
    assert set(m.params()) >= {"weighting", "grid_step", "class_edges", "members"}


def test_unknown_weighting_rejected() -> None:
    with pytest.raises(InvalidParameterError):
        Combination([TSB(), IMAPA()], weighting="best")
