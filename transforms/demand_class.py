"""Demand classification and forecast-accuracy measures, in plain Python.

Spare-parts demand is mostly intermittent: a part sells in few periods, in sizes that vary. Which
forecasting methods suit a series depends on how intermittent and how variable it is, so the hub
classifies every series by Syntetos & Boylan (2005): ADI = periods / non-zero periods, CV² = the
squared coefficient of variation of the non-zero sizes; cut-offs ADI 1.32 and CV² 0.49 give smooth,
intermittent (ADI ≥ 1.32), erratic (CV² ≥ 0.49) and lumpy (both).

Accuracy is judged by RMSSE (M5's metric) together with the bias, never by an absolute-error
measure alone: on intermittent data the median of the next periods is often zero, and MAE/MASE then
reward forecasting nothing at all.

Pure stdlib: the main environment (pandas 3) uses these for reports and checks, the forecasting
environment (transforms/demand_forecast.py) for its model choice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
LABELS = ("smooth", "intermittent", "erratic", "lumpy", "too_short")


class DemandClass(NamedTuple):
    adi: float | None  # average demand interval: periods per non-zero period
    cv2: float | None  # squared coefficient of variation of the non-zero sizes (population variance)
    label: str  # one of LABELS


def classify(values: Sequence[float]) -> DemandClass:
    """Syntetos-Boylan class of a demand series (zeros kept, one value per period).

    ADI counts from the first period of the series, so a part that sold once in 24 months has ADI 24.
    Fewer than two non-zero periods give "too_short": CV² of one size means nothing.
    """
    if any(v < 0 or math.isnan(v) for v in values):
        raise ValueError("demand values must be non-negative numbers")
    sizes = [float(v) for v in values if v > 0]
    if not values or not sizes:
        return DemandClass(None, None, "too_short")
    adi = len(values) / len(sizes)
    if len(sizes) < 2:
        return DemandClass(adi, None, "too_short")
    mean = sum(sizes) / len(sizes)
    cv2 = (sum((s - mean) ** 2 for s in sizes) / len(sizes)) / mean**2
    if adi < ADI_CUTOFF:
        label = "smooth" if cv2 < CV2_CUTOFF else "erratic"
    else:
        label = "intermittent" if cv2 < CV2_CUTOFF else "lumpy"
    return DemandClass(adi, cv2, label)


def rmsse_scale(train: Sequence[float], from_first_demand: bool = True) -> float:
    """Mean squared one-period change of the in-sample series: RMSSE's denominator.

    M5 counts from the first non-zero period (``from_first_demand``), so leading zeros before a part
    was introduced do not shrink the scale; utilsforecast's ``rmsse`` uses the whole series (the
    published car-parts numbers do). Where that leaves fewer than two periods or no change at all,
    the whole series is used; a series that never changes has no scale and gives 0.0.
    """
    series = [float(v) for v in train]
    if from_first_demand:
        first = next((i for i, v in enumerate(series) if v > 0), len(series))
        tail = series[first:]
        diffs = [b - a for a, b in zip(tail, tail[1:], strict=False)]
        if diffs and any(diffs):
            return sum(d * d for d in diffs) / len(diffs)
    diffs = [b - a for a, b in zip(series, series[1:], strict=False)]
    return sum(d * d for d in diffs) / len(diffs) if diffs else 0.0


def rmsse(
    actual: Sequence[float], forecast: Sequence[float], train: Sequence[float], from_first_demand: bool = True
) -> float:
    """Root mean squared scaled error of ``forecast`` against ``actual`` (M5), scaled by ``train``.

    Returns ``inf`` for a non-zero error on a series without scale (see :func:`rmsse_scale`), 0.0 for a
    perfect forecast of one.
    """
    if len(actual) != len(forecast) or not actual:
        raise ValueError("actual and forecast must be non-empty and of the same length")
    mse = sum((float(a) - float(f)) ** 2 for a, f in zip(actual, forecast, strict=True)) / len(actual)
    scale = rmsse_scale(train, from_first_demand)
    if scale == 0.0:
        return 0.0 if mse == 0.0 else math.inf
    return math.sqrt(mse / scale)


def bias(actual: Sequence[float], forecast: Sequence[float]) -> float:
    """Mean forecast error, forecast minus actual: positive = over-forecast (stock builds up)."""
    if len(actual) != len(forecast) or not actual:
        raise ValueError("actual and forecast must be non-empty and of the same length")
    return sum(float(f) - float(a) for a, f in zip(actual, forecast, strict=True)) / len(actual)
