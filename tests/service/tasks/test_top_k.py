"""`top_k` orders exactly as NumPy's stable argsort of the negated row does, and
`top_k_rows` answers a whole batch exactly as `top_k` answers each row."""

import numpy as np
import pytest

from service.tasks.classify import top_k, top_k_rows

LABELS = ["zero", "one", "two", "three"]


def numpy_order(row: np.ndarray, k: int) -> list[int]:
    order: list[int] = np.argsort(-row, kind="stable")[:k].tolist()
    return order


def test_highest_first_ties_by_index_and_labels_past_the_list_by_number():
    row = np.array([0.1, 0.3, 0.1, 0.3, 0.2], np.float32)
    answer = top_k(row, LABELS, 5)
    assert [item["index"] for item in answer] == [1, 3, 4, 0, 2]
    assert [item["label"] for item in answer] == ["one", "three", "4", "zero", "two"]
    assert answer[0]["score"] == pytest.approx(0.3) and isinstance(answer[0]["score"], float)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_order_is_numpys_on_random_rows_with_ties_infinities_and_nan(dtype):
    rng = np.random.default_rng(0)
    values = np.array([0.0, 0.25, 1.0, 1e-8, np.inf, -np.inf, np.nan])
    for _ in range(2000):
        size = int(rng.integers(1, 12))
        row = (rng.choice(values, size) if rng.random() < 0.5 else rng.random(size)).astype(dtype)
        k = int(rng.integers(1, size + 1))
        assert [item["index"] for item in top_k(row, LABELS, k)] == numpy_order(row, k), row


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_batch_of_rows_gets_what_each_row_gets(dtype):
    rng = np.random.default_rng(1)
    values = np.array([0.0, 0.25, 1.0, 1e-8, np.inf, -np.inf, np.nan, -0.0])
    for _ in range(300):
        rows, size = int(rng.integers(1, 70)), int(rng.integers(1, 12))
        matrix = rng.random((rows, size))
        mask = rng.random((rows, size)) < 0.3
        matrix[mask] = rng.choice(values, int(mask.sum()))
        matrix = matrix.astype(dtype)
        k = int(rng.integers(1, size + 1))
        expected = [top_k(row, LABELS, k) for row in matrix]
        answer = top_k_rows(matrix, LABELS, k)
        assert [[item["index"] for item in row] for row in answer] == [
            [item["index"] for item in row] for row in expected
        ]
        assert str(answer) == str(expected)  # labels, and scores to the bit (NaN included)
