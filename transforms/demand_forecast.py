"""Demand forecasts per series, with the model chosen per series on rolling origins.

Runs in the forecasting environment (.venv-forecast: statsforecast 2.1.1 needs pandas < 3, the hub
pins pandas 3), so it imports only the standard library, numpy, pandas and statsforecast, and talks
to the hub through files: :func:`run_job` reads a JSON job and writes a JSON result beside it.

How a series gets its forecast:

1. Syntetos-Boylan class (transforms/demand_class.py). The class picks the candidates: smooth and
   erratic series get ETS and Theta, intermittent and lumpy ones Croston-SBA, TSB, ADIDA and IMAPA;
   both get the naive baselines (last value, historic average, moving average over a season, SES).
2. Rolling origins: every candidate forecasts ``horizon`` periods from ``origins`` cut-offs spaced
   ``max(1, horizon // 2)`` apart, the last one ``horizon`` periods before the end, each trained
   only on what came before it (at least ``min_train`` periods).
3. A combination of the candidates, fitted on those origins over all series of the family, with
   its own weights per recency group: how long a series has sold nothing at the cut-off (under
   ``RECENCY_EDGES[0]`` periods, up to ``RECENCY_EDGES[1]``, longer; a group with fewer than
   ``MIN_FIT_SERIES`` series-origins joins the more recent one). A part that stopped selling a year
   ago rarely sells again, and a level from before it stopped overstates its demand: the weights of
   the older groups, learned from what followed such silences on the origins, damp it (on the
   car-parts data to about a tenth of the level, or less). The weights minimise the mean RMSSE
   (iteratively re-weighted least squares on scaled errors) with the pooled bias of the combination
   on the origins held within ``BIAS_TOLERANCE`` of mean demand: RMSSE alone, like MAE, is lowered
   by forecasting too little on series that may stop selling, so the unconstrained fit would sit at
   a large negative bias; the bound keeps the stock the forecast implies honest. Families with too
   few series for a fit get the equal-weight mean of their three best candidates.
4. Per series the combination is kept unless a single candidate had an RMSSE lower by more than
   ``SWITCH_MARGIN`` on that series' origins and a bias no larger: a switch on thin evidence loses
   more than it wins (measured on the car-parts data, bench/forecast_carparts.py).

The design constants (``RECENCY_EDGES``, ``BIAS_TOLERANCE``, ``SWITCH_MARGIN``) were chosen on the
car-parts data on validation cut-offs inside its first 45 months (bench/forecast_carparts.py).

Series with fewer than two demands, or too short for one origin, are "too_short": their forecast is
the historic mean and they carry no scores.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from transforms.demand_class import classify, rmsse_scale  # stdlib only: safe in either environment

FREQ = {"month": "MS", "week": "W-MON"}
SWITCH_MARGIN = 0.2  # a single model replaces the combination only if its RMSSE is 20 % lower
MIN_FIT_SERIES = 30  # series of a family (series-origins of a recency group) needed to fit weights
RECENCY_EDGES = (6, 12)  # periods without demand at the cut-off that start the next recency group
BIAS_TOLERANCE = 0.10  # |pooled bias| of the fitted combination on the origins, share of mean demand
RIDGE = 1e-3  # relative ridge on the combination weights: stable with near-collinear candidates
IRLS_ROUNDS = 10
INTERMITTENT = ("intermittent", "lumpy")


class JobError(ValueError):
    """A job the forecaster refuses; the message names the series and the field."""


def run_job(job_path: str) -> str:
    """Forecast the series of the job at ``job_path``; write ``<job stem>.result.json`` beside it and
    return that path."""
    path = Path(job_path)
    job = json.loads(path.read_text(encoding="utf-8"))
    result = forecast(job)
    out = path.with_name(path.stem + ".result.json")
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1), encoding="utf-8")
    os.replace(tmp, out)
    return str(out)


def validate(job: dict) -> None:
    """Raise :class:`JobError` for the first thing wrong with ``job``."""
    if not isinstance(job, dict):
        raise JobError("job: must be a JSON object")
    if job.get("bucket") not in FREQ:
        raise JobError(f"job: bucket must be one of {sorted(FREQ)}, got {job.get('bucket')!r}")
    for field, low in (("horizon", 1), ("season_length", 1), ("min_train", 2), ("origins", 1)):
        value = job.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise JobError(f"job: {field} must be an integer >= {low}, got {value!r}")
    series = job.get("series")
    if not isinstance(series, list):
        raise JobError("job: series must be a list")
    seen: set[str] = set()
    for n, s in enumerate(series):
        sid = s.get("id") if isinstance(s, dict) else None
        if not isinstance(sid, str) or not sid:
            raise JobError(f"series #{n}: id must be a non-empty string")
        if sid in seen:
            raise JobError(f"series {sid!r}: id is not unique")
        seen.add(sid)
        try:
            start = date.fromisoformat(s.get("start"))
        except (TypeError, ValueError):
            raise JobError(f"series {sid!r}: start must be a date YYYY-MM-DD, got {s.get('start')!r}") from None
        if job["bucket"] == "month" and start.day != 1:
            raise JobError(f"series {sid!r}: start must be the first of a month for bucket month, got {start}")
        if job["bucket"] == "week" and start.weekday() != 0:
            raise JobError(f"series {sid!r}: start must be a Monday for bucket week, got {start}")
        values = s.get("values")
        if not isinstance(values, list):
            raise JobError(f"series {sid!r}: values must be a list of numbers")
        for i, v in enumerate(values):
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise JobError(f"series {sid!r}: values[{i}] must be a finite number >= 0, got {v!r}")


def candidates(family: str, season_length: int, length: int) -> list:
    """The statsforecast models a family is evaluated with (aliases are the names in the result)."""
    from statsforecast.models import (
        ADIDA,
        IMAPA,
        TSB,
        AutoETS,
        AutoTheta,
        CrostonSBA,
        HistoricAverage,
        Naive,
        SeasonalNaive,
        SimpleExponentialSmoothingOptimized,
        WindowAverage,
    )

    window = max(2, min(season_length, length // 2))
    base = [
        Naive(),
        HistoricAverage(),
        WindowAverage(window, alias="WindowAverage"),
        SimpleExponentialSmoothingOptimized(alias="SES"),
    ]
    if family == "intermittent":
        return [*base, CrostonSBA(), TSB(alpha_d=0.1, alpha_p=0.1), ADIDA(), IMAPA()]
    seasonal = season_length if season_length > 1 and length >= 2 * season_length + 2 else 1
    extra = [SeasonalNaive(seasonal)] if seasonal > 1 else []
    return [
        *base,
        *extra,
        AutoETS(season_length=seasonal, alias="ETS"),
        AutoTheta(season_length=seasonal, alias="Theta"),
    ]


def forecast(job: dict) -> dict:
    """The result object of a (valid or not yet validated) job; see :func:`run_job`."""
    began = time.perf_counter()
    validate(job)
    h, step = job["horizon"], max(1, job["horizon"] // 2)
    out: dict[str, dict] = {}
    groups: dict[tuple, list[dict]] = {}
    for s in job["series"]:
        values = [float(v) for v in s["values"]]
        cls = classify(values)
        windows = min(job["origins"], (len(values) - h - job["min_train"]) // step + 1)
        entry = {"id": s["id"], "demand_class": cls.label, "adi": cls.adi, "cv2": cls.cv2}
        if cls.label == "too_short" or windows < 1:
            mean = sum(values) / len(values) if values else 0.0
            sd = float(np.std(values)) if values else 0.0
            entry.update(demand_class="too_short", model="HistoricAverage", rmsse=None, bias=None,
                         forecast=[mean] * h, error_sd=sd, scores={})  # fmt: skip
            out[s["id"]] = entry
            continue
        family = "intermittent" if cls.label in INTERMITTENT else "smooth"
        end = pd.Timestamp(s["start"]) + pd.tseries.frequencies.to_offset(FREQ[job["bucket"]]) * (len(values) - 1)
        groups.setdefault((family, windows, end, len(values) if family == "smooth" else 0), []).append(
            {**s, "values": values, "entry": entry}
        )
        out[s["id"]] = entry
    models: set[str] = set()
    combinations: dict[str, dict[str, float]] = {}
    for family in ("intermittent", "smooth"):
        fam = [(key, members) for key, members in groups.items() if key[0] == family]
        if fam:
            names, combo = _forecast_family(fam, job, h, step)
            models.update(names)
            combinations[combo["name"]] = combo["weights"]
    series = [out[s["id"]] for s in job["series"]]
    return {
        "models": sorted(models),
        "combinations": combinations,
        "seconds": round(time.perf_counter() - began, 3),
        "series": series,
    }


def _long(members: list[dict], freq: str) -> pd.DataFrame:
    frames = [
        pd.DataFrame({"unique_id": m["id"], "ds": pd.date_range(m["start"], periods=len(m["values"]), freq=freq),
                      "y": m["values"]})
        for m in members
    ]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def idle_periods(values: list[float], end: int | None = None) -> int:
    """Periods without demand at the end of ``values[:end]`` (all of them if it never sold)."""
    head = values[: len(values) if end is None else end]
    for back, v in enumerate(reversed(head)):
        if v > 0:
            return back
    return len(head)


def recency_groups(counts: list[int]) -> tuple[list[int], list[str]]:
    """Raw recency groups (``RECENCY_EDGES``) merged until each holds ``MIN_FIT_SERIES`` series-origins.

    ``counts[r]`` is the number of series-origins in raw group ``r``. A thin group joins the more
    recent one (the oldest-but-thin first); a thin most recent group joins the next. Returns the
    fitted group of each raw group and the fitted groups' labels ("0-5", "6-11", "12+": periods
    without demand at the cut-off).
    """
    segments = [[r] for r in range(len(counts))]
    while len(segments) > 1:
        thin = [n for n, seg in enumerate(segments) if sum(counts[r] for r in seg) < MIN_FIT_SERIES]
        if not thin:
            break
        n = thin[-1]
        into = n - 1 if n > 0 else 1
        lo, hi = sorted((n, into))
        segments[lo : hi + 1] = [segments[lo] + segments[hi]]
    edges = [0, *RECENCY_EDGES]
    mapping = [0] * len(counts)
    labels = []
    for g, seg in enumerate(segments):
        for r in seg:
            mapping[r] = g
        low, high = edges[seg[0]], (edges[seg[-1] + 1] - 1 if seg[-1] + 1 < len(edges) else None)
        labels.append(f"{low}-{high}" if high is not None else f"{low}+")
    return mapping, labels


def _raw_group(idle: int) -> int:
    return sum(idle >= e for e in RECENCY_EDGES)


def _forecast_family(groups: list[tuple], job: dict, h: int, step: int) -> tuple[list[str], dict]:
    """Rolling origins, combination fit, per-series choice and final forecasts for one family."""
    from statsforecast import StatsForecast

    freq = FREQ[job["bucket"]]
    rows = []  # per group: members, names, origin forecasts (n, w, h, k), actuals (n, w, h), final (n, h, k),
    # raw recency group per series and origin (n, w) and at the end (n,)
    for (family, windows, _end, _len), members in groups:
        length = min(len(m["values"]) for m in members)
        cands = candidates(family, job["season_length"], length)
        names = [repr(m) if not getattr(m, "alias", None) else m.alias for m in cands]
        df = _long(members, freq)
        sf = StatsForecast(models=cands, freq=freq, n_jobs=1)
        cv = sf.cross_validation(df=df, h=h, n_windows=windows, step_size=step).sort_values(
            ["unique_id", "cutoff", "ds"]
        )
        final = sf.forecast(df=df, h=h).sort_values(["unique_id", "ds"])
        order = {m["id"]: i for i, m in enumerate(members)}
        idx = np.argsort([order[u] for u in cv["unique_id"].unique()])
        n = len(members)
        fc = cv[names].to_numpy(float).reshape(n, windows, h, len(names))[idx]
        act = cv["y"].to_numpy(float).reshape(n, windows, h)[idx]
        fin_idx = np.argsort([order[u] for u in final["unique_id"].unique()])
        fin = final[names].to_numpy(float).reshape(n, h, len(names))[fin_idx]
        g_or = np.array(
            [[_raw_group(idle_periods(m["values"], len(m["values"]) - h - step * (windows - 1 - j)))
              for j in range(windows)] for m in members]
        )  # fmt: skip
        g_fin = np.array([_raw_group(idle_periods(m["values"])) for m in members])
        rows.append((members, names, np.nan_to_num(fc), act, np.nan_to_num(fin), g_or, g_fin))
    names = rows[0][1]
    rows = [r for r in rows if r[1] == names] + [r for r in rows if r[1] != names]
    scales = [np.array([rmsse_scale(m["values"]) or 1.0 for m in r[0]]) for r in rows]
    mapping, labels, weights = _fit_weights(
        [r for r in rows if r[1] == names], [s for r, s in zip(rows, scales, strict=True) if r[1] == names], names
    )
    mapping = np.array(mapping)
    used = weights.any(axis=0)
    combo_name = "combo(" + ",".join(n for n, u in zip(names, used, strict=True) if u) + ")"
    for (members, r_names, fc, act, fin, g_or, g_fin), scale in zip(rows, scales, strict=True):
        w = weights if r_names == names else np.full((1, len(r_names)), 1.0 / len(r_names))
        m_or, m_fin = (mapping[g_or], mapping[g_fin]) if r_names == names else (0 * g_or, 0 * g_fin)
        all_names = [*r_names, combo_name]
        combo_or = np.einsum("nwhk,nwk->nwh", fc, w[m_or])
        combo_fin = np.einsum("nhk,nk->nh", fin, w[m_fin])
        fc_all = np.concatenate([fc, np.clip(combo_or, 0, None)[..., None]], axis=-1)
        fin_all = np.concatenate([fin, np.clip(combo_fin, 0, None)[..., None]], axis=-1)
        err = fc_all - act[..., None]  # (n, w, h, k)
        rm = np.sqrt(np.mean(err**2, axis=2) / scale[:, None, None]).mean(axis=1)  # (n, k)
        bi = err.mean(axis=(1, 2))
        for i, m in enumerate(members):
            choice = len(all_names) - 1
            best = int(np.argmin(rm[i, :-1]))
            if rm[i, best] < (1 - SWITCH_MARGIN) * rm[i, -1] and abs(bi[i, best]) <= abs(bi[i, -1]):
                choice = best
            one_step = err[i, :, 0, choice]
            m["entry"].update(
                model=all_names[choice],
                rmsse=float(rm[i, choice]),
                bias=float(bi[i, choice]),
                forecast=[max(0.0, float(v)) for v in fin_all[i, :, choice]],
                error_sd=float(np.sqrt(np.mean(one_step**2))),
                scores={nm: {"rmsse": float(rm[i, k]), "bias": float(bi[i, k])} for k, nm in enumerate(all_names)},
            )
    by_group = {lab: dict(zip(names, map(float, w), strict=True)) for lab, w in zip(labels, weights, strict=True)}
    return [*names, combo_name], {"name": combo_name, "weights": by_group}


def _fit_weights(
    rows: list[tuple], scales: list[np.ndarray], names: list[str]
) -> tuple[list[int], list[str], np.ndarray]:
    """Combination weights per recency group minimising the mean RMSSE over series × origins, with
    |pooled bias| ≤ ``BIAS_TOLERANCE`` × mean demand on the origins.

    Returns the fitted group of each raw recency group, the fitted groups' labels and their weights
    (groups × candidates). Iteratively re-weighted least squares: each series-origin's squared scaled
    errors are weighted by 1 / its RMSSE, so the fit minimises the sum of RMSSEs; the candidates'
    forecasts of a series-origin fill the columns of its recency group. The objective is convex, so
    where the unconstrained fit's pooled bias is outside the tolerance the optimum lies on its
    nearer bound, which enters as a Lagrange row of the normal equations.
    """
    k = len(names)
    raw = len(RECENCY_EDGES) + 1
    if sum(len(r[0]) for r in rows) < MIN_FIT_SERIES:
        fc = np.concatenate([r[2].reshape(-1, k) for r in rows])
        act = np.concatenate([r[3].reshape(-1) for r in rows])
        mse = np.mean((fc - act[:, None]) ** 2, axis=0)
        weights = np.zeros((1, k))
        weights[0, np.argsort(mse)[:3]] = 1.0 / min(3, k)
        return [0] * raw, ["all"], weights
    counts = np.bincount(np.concatenate([r[5].reshape(-1) for r in rows]), minlength=raw)
    mapping, labels = recency_groups(counts.tolist())
    big_k = k * len(labels)
    blocks = []
    for r, s in zip(rows, scales, strict=True):
        fc, g = r[2], np.array(mapping)[r[5]]  # (n, w, h, k), (n, w)
        wide = np.zeros((*fc.shape[:3], big_k))
        for grp in range(len(labels)):
            wide[..., grp * k : (grp + 1) * k][g == grp] = fc[g == grp]
        blocks.append((wide, np.sqrt(s)))
    raw_x = np.concatenate([b.reshape(-1, b.shape[2], big_k) for b, _ in blocks])  # (series × origins, h, K)
    X = np.concatenate([(b / s[:, None, None, None]).reshape(-1, b.shape[2], big_k) for b, s in blocks])
    y = np.concatenate([r[3] / np.sqrt(s)[:, None, None] for r, s in zip(rows, scales, strict=True)]).reshape(
        -1, X.shape[1]
    )
    a = raw_x.reshape(-1, big_k).sum(axis=0)
    b = float(sum(r[3].sum() for r in rows))
    tol = BIAS_TOLERANCE * b
    flat_x, flat_y = X.reshape(-1, big_k), y.reshape(-1)
    weight = np.ones(len(X))
    w = np.zeros(big_k)
    for _ in range(IRLS_ROUNDS):
        wx = (X * weight[:, None, None]).reshape(-1, big_k)
        gram = wx.T @ flat_x
        diag = np.diag(gram).reshape(len(labels), k).mean(axis=1)
        gram = gram + RIDGE * np.diag(np.repeat(np.maximum(diag, 1e-12), k))
        rhs = 2 * wx.T @ flat_y
        w = np.linalg.solve(2 * gram, rhs)
        gap = float(a @ w - b)
        if abs(gap) > tol:
            kkt = np.block([[2 * gram, a[:, None]], [a[None, :], np.zeros((1, 1))]])
            w = np.linalg.solve(kkt, np.concatenate([rhs, [b + math.copysign(tol, gap)]]))[:big_k]
        resid = np.sqrt(np.mean((y - X @ w) ** 2, axis=1))
        weight = 1.0 / np.maximum(resid, 0.05)
    return mapping, labels, np.round(w.reshape(len(labels), k), 6)


if __name__ == "__main__":
    print(run_job(sys.argv[1]))
