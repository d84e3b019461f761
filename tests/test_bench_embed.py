"""The anomaly benchmark's nearest-neighbour distance (round 13)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from bench_embed import knn_distance  # noqa: E402


def test_knn_distance_is_the_mean_of_the_k_nearest_scaled_distances() -> None:
    reference = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    scale = reference.std(0)  # (1, 2)
    v = np.array([0.5, 1.0])
    d = np.sqrt((((reference - v) / scale) ** 2).sum(1) / 2)
    assert knn_distance(reference, v, k=1) == pytest.approx(np.sort(d)[0])
    assert knn_distance(reference, v, k=2) == pytest.approx(np.sort(d)[:2].mean())
    assert knn_distance(reference, reference[1], k=1) == 0.0


def test_knn_distance_grows_with_distance_from_the_nearest_reference_not_the_mean() -> None:
    rng = np.random.default_rng(0)
    # two clusters: a point between them is near the mean but far from every file
    reference = np.r_[rng.normal(-3, 0.1, (10, 4)), rng.normal(3, 0.1, (10, 4))]
    assert knn_distance(reference, np.zeros(4)) > 5 * knn_distance(reference, np.full(4, 3.0))


def test_knn_distance_refuses_too_few_rows_and_wrong_dimensions() -> None:
    with pytest.raises(ValueError, match="fewer than k"):
        knn_distance(np.zeros((1, 3)), np.zeros(3), k=2)
    with pytest.raises(ValueError, match="do not match"):
        knn_distance(np.zeros((4, 3)), np.zeros(2))
