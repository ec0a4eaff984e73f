"""Triton's classification extension: "score:index:label" strings, formatted as Triton does."""

import numpy as np
import pytest

from service.errors import InvalidRequestError
from service.protocols import v2_classification


def test_classification_formats_values_as_triton_does():
    scores = np.array([[3, 200, 7]], np.uint8)
    assert v2_classification.classification("x", scores, 2, ["a", "b", "c"]).tolist() == [
        ["200:1:b", "7:2:c"]
    ]
    floats = np.array([[1e-7, -2.5, 12345.678]], np.float32)
    assert v2_classification.classification("x", floats, 5, ["a"]).tolist() == [
        ["12345.677734:2", "0.000000:0", "-2.500000:1"]
    ]
    assert v2_classification.classification("x", np.zeros((0, 4), np.float32), 2, ()).shape == (
        0,
        2,
    )


def test_class_count_must_be_a_positive_integer():
    for count in (0, -1, "3", True, 1.5):
        with pytest.raises(InvalidRequestError, match="positive integer"):
            v2_classification.class_count(count)
    assert v2_classification.class_count(3) == 3
