"""Feasibility diagnostics for the accuracy targets (not a model: uses the test actuals).

    .venv/bin/python -m benchmarks.forecasting.diagnose --dataset seattle_pets

At the same origins as ``accuracy`` (3 x 4 weeks) it reports RMSSE relative to Naive of:
the default model; trailing means; an *oracle* constant per series equal to its actual mean
over the evaluated 4 weeks (uses the future: an optimistic bound for any level forecast);
and, per intermittency class (share of non-zero weeks over the last 26: sparse < 0.2,
intermittent, regular >= 0.76), how much each class contributes to the mean RMSSE. The row
``default, sparse -> 0`` shows what forecasting zero for the sparse class would give: the
mean RMSSE over series rewards a zero point forecast for series whose chance of any supply
in the horizon is below about 2/3, whatever their expected value. It is a what-if, not a
forecast the product makes.
"""

from __future__ import annotations

import argparse

import numpy as np

from benchmarks.forecasting.accuracy import load
from forecasting import metrics as fm
from forecasting.backtest import origin_indices
from forecasting.models import default_model
from forecasting.models.base import intermittency_class

CLASSES = ("sparse", "intermittent", "regular")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="seattle_pets", choices=["bike_sales", "seattle_pets"])
    ap.add_argument("--horizon", type=int, default=4)
    ap.add_argument("--origins", type=int, default=3)
    args = ap.parse_args()
    panel = load(args.dataset)
    h = args.horizon
    per: dict[str, list[np.ndarray]] = {}
    classes: list[np.ndarray] = []
    for o in origin_indices(panel, h, args.origins):
        rows = np.flatnonzero(panel.values[:, :o].sum(axis=1) > 0)
        train = panel.head(o).select(rows)
        tr, ac = train.values, panel.values[rows, o : o + h]
        cls = intermittency_class(tr)
        classes.append(cls)

        def rep(x: np.ndarray) -> np.ndarray:
            return np.repeat(x[:, None], h, axis=1)

        mean = default_model(h).fit(train, horizon=h).predict(h).mean
        cands = {
            "naive": rep(tr[:, -1]),
            "zero": np.zeros_like(ac),
            "default": mean,
            "default, sparse -> 0": np.where(cls[:, None] == 0, 0.0, mean),
            "trailing mean 13": rep(tr[:, -13:].mean(axis=1)),
            "trailing mean 26": rep(tr[:, -26:].mean(axis=1)),
            "oracle constant (future mean)": rep(ac.mean(axis=1)),
        }
        for name, f in cands.items():
            per.setdefault(name, []).append(fm.rmsse_per_series(ac, f, tr))
    cls_all = np.concatenate(classes)
    naive = float(np.nanmean(np.concatenate(per["naive"])))
    ok = np.isfinite(np.concatenate(per["naive"]))
    counts = ", ".join(f"{c} {int((ok & (cls_all == i)).sum())}" for i, c in enumerate(CLASSES))
    print(f"{args.dataset}: evaluated series x origins by class: {counts}")
    head = f"{'forecast':32s} {'rel. naive':>10s}  " + "  ".join(f"{c:>12s}" for c in CLASSES)
    print(head + "   (contribution to mean RMSSE)")
    for name, parts in per.items():
        r = np.concatenate(parts)
        n = int(np.isfinite(r).sum())
        contrib = [float(np.nansum(r[cls_all == i])) / n for i in range(len(CLASSES))]
        cells = "  ".join(f"{c:12.4f}" for c in contrib)
        print(f"{name:32s} {float(np.nanmean(r)) / naive:10.3f}  {cells}")


if __name__ == "__main__":
    main()
