"""Syntetos-Boylan classification, RMSSE and bias (transforms/demand_class.py): hand-computed
vectors, the class boundaries, and properties over drawn series."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.demand_class import bias, classify, rmsse, rmsse_scale


def test_class_vectors():
    # 12 periods, 3 demands of 4, 4, 4: ADI 4, CV² 0 → intermittent.
    c = classify([0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, 4])
    assert (c.adi, c.cv2, c.label) == (4.0, 0.0, "intermittent")
    # sizes 1 and 9: mean 5, population variance 16, CV² 0.64 → lumpy.
    c = classify([1, 0, 0, 9])
    assert c.adi == 2.0 and c.cv2 == pytest.approx(0.64) and c.label == "lumpy"
    assert classify([5, 6, 5, 6, 5, 6]).label == "smooth"
    assert classify([1, 10, 1, 10, 1, 10]).label == "erratic"


def test_boundaries_belong_to_the_upper_class():
    # ADI exactly 1.32 is not < 1.32: 33 periods with 25 demands.
    values = [1.0] * 25 + [0.0] * 8
    assert classify(values).adi == pytest.approx(1.32)
    assert classify(values).label == "intermittent"
    # CV² exactly 0.49: sizes 3 and 17 around mean 10 (variance 49).
    assert classify([3, 17] * 5).label == "erratic"


def test_too_short_and_bad_values():
    assert classify([]).label == "too_short"
    assert classify([0, 0, 0]).label == "too_short"
    assert classify([0, 0, 7]) == (3.0, None, "too_short")
    with pytest.raises(ValueError):
        classify([1, -1])
    with pytest.raises(ValueError):
        classify([1, float("nan")])


def test_rmsse_vectors():
    train = [0, 0, 2, 0, 2]  # from the first demand: diffs -2, 2 → scale 4; whole series: 0, 2, -2, 2 → 3
    assert rmsse_scale(train) == 4.0
    assert rmsse_scale(train, from_first_demand=False) == 3.0
    assert rmsse([1, 1], [3, 3], train) == pytest.approx(1.0)  # mse 4 / 4
    assert rmsse([1, 1], [3, 3], train, from_first_demand=False) == pytest.approx(math.sqrt(4 / 3))
    assert rmsse([1], [1], [5, 5, 5]) == 0.0
    assert rmsse([1], [2], [5, 5, 5]) == math.inf  # no scale
    assert rmsse_scale([0, 0, 0, 3]) == 3.0  # one demand at the end: falls back to the whole series
    with pytest.raises(ValueError):
        rmsse([1, 2], [1], [1, 2])


def test_bias_sign():
    assert bias([1, 2, 3], [2, 3, 4]) == 1.0  # over-forecast is positive
    assert bias([4, 0], [0, 0]) == -2.0
    with pytest.raises(ValueError):
        bias([], [])


demand = st.lists(st.one_of(st.just(0.0), st.floats(0.01, 1e4)), min_size=1, max_size=60)


@given(demand)
def test_class_matches_definition(values):
    c = classify(values)
    sizes = [v for v in values if v > 0]
    if len(sizes) < 2:
        assert c.label == "too_short"
        return
    assert c.adi == pytest.approx(len(values) / len(sizes))
    assert c.adi >= 1.0 and c.cv2 >= 0.0
    expected = {
        (False, False): "smooth",
        (True, False): "intermittent",
        (False, True): "erratic",
        (True, True): "lumpy",
    }
    assert c.label == expected[(c.adi >= 1.32, c.cv2 >= 0.49)]


@given(demand, st.floats(0.1, 100))
def test_class_is_scale_free(values, k):
    a, b = classify(values), classify([v * k for v in values])
    if a.label != "too_short" and abs(a.cv2 - 0.49) > 1e-6:
        assert a.label == b.label and b.cv2 == pytest.approx(a.cv2, rel=1e-6, abs=1e-9)


@given(st.lists(st.floats(0, 100), min_size=3, max_size=30), st.lists(st.floats(0, 100), min_size=1, max_size=6))
def test_rmsse_is_zero_only_for_a_perfect_forecast(train, actual):
    assert rmsse(actual, actual, train) == 0.0
    off = [a + 1 for a in actual]
    assert rmsse(actual, off, train) > 0
    assert bias(actual, off) == pytest.approx(1.0)
