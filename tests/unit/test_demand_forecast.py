"""Forecast jobs (transforms/demand_forecast.py) run the way the hub runs them: a JSON job file handed
to the forecasting environment (.venv-forecast) in a child process. A small hand-made data set where
the right answer is known, and the job checks that name the series and the field."""

import json
import math
from pathlib import Path

import pytest

from flows.replenishment_planning.forecast_env import forecast_python, run_in_subprocess
from transforms.demand_forecast import JobError, validate


def test_the_forecasting_environment_is_installed():
    """`make install` builds it; without it every planning run fails, so this fails rather than skips."""
    assert Path(forecast_python()).exists(), "forecasting environment missing: run `make install`"


MONTHS = 48


def hand_made() -> list[dict]:
    step = [5.0] * 30 + [20.0] * 18  # a level shift: anything that remembers the old level is wrong
    periodic = [6.0 if i % 3 == 2 else 0.0 for i in range(MONTHS)]  # 6 every third month: rate 2
    trend = [10.0 + 2 * i for i in range(MONTHS)]  # a straight line up
    flat = [10.0 + (0.5 if i % 2 else -0.5) for i in range(MONTHS)]
    return [
        {"id": "STEP", "start": "2021-01-01", "values": step},
        {"id": "PERIODIC", "start": "2021-01-01", "values": periodic},
        {"id": "TREND", "start": "2021-01-01", "values": trend},
        {"id": "FLAT", "start": "2021-01-01", "values": flat},
        {"id": "ONCE", "start": "2021-01-01", "values": [0.0] * 40 + [8.0] + [0.0] * 7},
        {"id": "NEW", "start": "2024-09-01", "values": [0.0, 3.0, 0.0, 3.0]},
    ]


def job(**overrides) -> dict:
    base = {"bucket": "month", "horizon": 6, "season_length": 12, "min_train": 12, "origins": 4,
            "series": hand_made()}  # fmt: skip
    return {**base, **overrides}


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("forecast") / "job.json"
    path.write_text(json.dumps(job()))
    out = run_in_subprocess(str(path))
    assert Path(out) == path.with_name("job.result.json")
    return json.loads(Path(out).read_text())


def by_id(result: dict) -> dict:
    return {s["id"]: s for s in result["series"]}


def test_classes_and_shape(result):
    s = by_id(result)
    assert [x["id"] for x in result["series"]] == [x["id"] for x in hand_made()]  # job order kept
    assert s["PERIODIC"]["demand_class"] == "intermittent" and s["PERIODIC"]["adi"] == 3.0
    assert s["FLAT"]["demand_class"] == "smooth" and s["TREND"]["demand_class"] == "smooth"
    assert s["ONCE"]["demand_class"] == "too_short" and s["NEW"]["demand_class"] == "too_short"
    for x in result["series"]:
        assert len(x["forecast"]) == 6 and all(v >= 0 for v in x["forecast"])
        assert x["error_sd"] >= 0
    assert result["seconds"] >= 0 and "Naive" in result["models"]


def test_known_choices(result):
    s = by_id(result)
    # The level shift: the chosen model forecasts the new level and is no long-memory average.
    assert s["STEP"]["model"] != "HistoricAverage" and s["STEP"]["rmsse"] < 0.05
    assert all(abs(v - 20) < 1.0 for v in s["STEP"]["forecast"])
    assert s["STEP"]["scores"]["HistoricAverage"]["rmsse"] > s["STEP"]["rmsse"]
    # The periodic part: 2 a month on average, and an intermittent method or a combination of them.
    assert abs(sum(s["PERIODIC"]["forecast"]) / 6 - 2.0) < 0.5
    assert s["PERIODIC"]["model"] in s["PERIODIC"]["scores"]
    assert "ETS" not in s["PERIODIC"]["scores"]  # smooth-only candidates are not tried on it
    assert {"CrostonSBA", "TSB", "ADIDA", "IMAPA"} <= set(s["PERIODIC"]["scores"])
    # The trend: a trend model continues the line; the chosen one is at least as good as ETS there.
    assert {"ETS", "Theta"} <= set(s["TREND"]["scores"])
    assert s["TREND"]["model"] in ("ETS", "Theta") and s["TREND"]["rmsse"] < 0.05
    assert s["TREND"]["forecast"] == pytest.approx([106, 108, 110, 112, 114, 116], abs=1.0)
    assert s["TREND"]["rmsse"] <= s["TREND"]["scores"]["Naive"]["rmsse"]
    # Flat around 10: forecasts near 10, no bias to speak of.
    assert all(abs(v - 10) < 1.0 for v in s["FLAT"]["forecast"]) and abs(s["FLAT"]["bias"]) < 0.5


def test_chosen_scores_are_the_reported_ones(result):
    for x in result["series"]:
        if x["demand_class"] == "too_short":
            assert x["rmsse"] is None and x["scores"] == {}
            continue
        assert x["scores"][x["model"]] == {"rmsse": x["rmsse"], "bias": x["bias"]}
        # never chosen on RMSSE with a worse bias than the combination it replaced
        combo = next(k for k in x["scores"] if k.startswith("combo("))
        if x["model"] != combo:
            assert abs(x["bias"]) <= abs(x["scores"][combo]["bias"])
            assert x["rmsse"] < x["scores"][combo]["rmsse"]


def test_too_short_gets_the_mean(result):
    s = by_id(result)
    assert s["NEW"]["forecast"] == [1.5] * 6 and s["NEW"]["model"] == "HistoricAverage"
    assert math.isclose(s["ONCE"]["forecast"][0], 8 / MONTHS)


def test_bad_job_fails_in_the_forecast_env_naming_series_and_field(tmp_path):
    bad = job()
    bad["series"][1]["values"][7] = -3
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(RuntimeError, match=r"series 'PERIODIC': values\[7\] must be a finite number >= 0"):
        run_in_subprocess(str(path))
    assert not (tmp_path / "bad.result.json").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda j: j.update(bucket="day"), "job: bucket"),
        (lambda j: j.update(horizon=0), "job: horizon"),
        (lambda j: j.update(origins="3"), "job: origins"),
        (lambda j: j["series"][0].update(start="2021-01-15"), "series 'STEP': start must be the first of a month"),
        (lambda j: j["series"][2].update(start="2021-13-01"), "series 'TREND': start must be a date"),
        (lambda j: j["series"][3]["values"].__setitem__(0, True), r"series 'FLAT': values\[0\]"),
        (lambda j: j["series"][3]["values"].__setitem__(5, "7"), r"series 'FLAT': values\[5\]"),
        (lambda j: j["series"][4].update(id="STEP"), "series 'STEP': id is not unique"),
        (lambda j: j["series"][5].pop("id"), "series #5: id"),
        (lambda j: j["series"][0].update(values=None), "series 'STEP': values must be a list"),
    ],
)
def test_job_checks(change, message):
    j = job()
    change(j)
    with pytest.raises(JobError, match=message):
        validate(j)


def test_week_bucket_needs_mondays():
    j = job(bucket="week")
    with pytest.raises(JobError, match="series 'STEP': start must be a Monday"):
        validate(j)
    for s in j["series"]:
        s["start"] = "2021-01-04"
    validate(j)


def test_idle_periods_and_recency_groups():
    from transforms.demand_forecast import MIN_FIT_SERIES, idle_periods, recency_groups

    assert idle_periods([0, 3, 0, 0]) == 2 and idle_periods([0, 3, 0, 0], end=2) == 0
    assert idle_periods([1, 0, 0]) == 2 and idle_periods([0, 0]) == 2 and idle_periods([5]) == 0
    many = MIN_FIT_SERIES
    assert recency_groups([many, many, many]) == ([0, 1, 2], ["0-5", "6-11", "12+"])
    # a thin oldest group joins the middle one; a thin most recent group joins the next
    assert recency_groups([many, many, 1]) == ([0, 1, 1], ["0-5", "6+"])
    assert recency_groups([1, many, many]) == ([0, 0, 1], ["0-11", "12+"])
    assert recency_groups([many, 0, 0]) == ([0, 0, 0], ["0+"])


def test_parts_that_stopped_selling_are_damped_and_pooled_bias_bounded(tmp_path):
    """40 parts: half keep selling 2 a month, half sold the same until 18 months ago and then nothing.
    The silent ones' forecasts are damped far below their historic level; the combination's pooled
    bias on the origins stays within the tolerance."""
    from transforms.demand_forecast import BIAS_TOLERANCE

    series = []
    for n in range(20):
        live = [float((i + n) % 3 == 0) * 6 for i in range(MONTHS)]  # 6 every third month: rate 2
        dead = live[:30] + [0.0] * 18
        series += [{"id": f"LIVE{n}", "start": "2021-01-01", "values": live},
                   {"id": f"DEAD{n}", "start": "2021-01-01", "values": dead}]  # fmt: skip
    path = tmp_path / "job.json"
    path.write_text(json.dumps(job(series=series)))
    result = json.loads(Path(run_in_subprocess(str(path))).read_text())
    s = by_id(result)
    live = sum(sum(s[f"LIVE{n}"]["forecast"]) for n in range(20)) / 120
    dead = sum(sum(s[f"DEAD{n}"]["forecast"]) for n in range(20)) / 120
    assert abs(live - 2.0) < 0.5
    assert dead < 0.25 * live
    (name,) = [k for k in result["combinations"] if k.startswith("combo(")]
    # origins cut 3, 6, 9 and 12 months after the silent parts' last sale: the 12-month group is too
    # thin (20 series-origins) and joins the 6-11 one
    assert list(result["combinations"][name]) == ["0-5", "6+"]
    # pooled bias of the combination on the origins (mean demand there: 1, the live half's 2): within the
    # tolerance, up to what clipping negative forecasts at zero adds
    bias = sum(x["scores"][name]["bias"] for x in result["series"]) / len(series)
    assert abs(bias) <= BIAS_TOLERANCE * 1.0 + 0.02
