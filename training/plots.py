"""Figures saved beside each exported version: learning curves, confusion matrix,
sample grid and forecast against actual values."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on servers.
import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import NDArray


def learning_curves(history: Mapping[str, Sequence[float]], path: Path) -> None:
    """One panel per metric, training and validation together."""
    metrics = sorted({key.removeprefix("val_") for key in history if key != "learning_rate"})
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.5), squeeze=False)
    for axis, metric in zip(axes[0], metrics, strict=True):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            if key in history:
                values = history[key]
                axis.plot(range(1, len(values) + 1), values, style, label=key)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.legend()
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def confusion_matrix_plot(matrix: NDArray[np.int64], labels: Sequence[str], path: Path) -> None:
    """Counts with true labels on rows and predictions on columns."""
    fig, axis = plt.subplots(figsize=(7, 6))
    image = axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = matrix.max() / 2
    for (row, col), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        axis.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    fig.colorbar(image)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def image_grid(
    images: NDArray[np.float32], rows: int, path: Path, titles: Sequence[str] = ()
) -> None:
    """Images ``[N, 28, 28, 1]`` in [0, 1] laid out in ``rows`` rows."""
    cols = int(np.ceil(len(images) / rows))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index < len(images):
            axis.imshow(images[index, :, :, 0], cmap="gray", vmin=0, vmax=1)
    for row, title in enumerate(titles):
        axes[row, 0].set_title(title, fontsize=7, loc="left")
    fig.tight_layout(pad=0.2)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def forecast_plot(
    history: NDArray[np.float32],
    actual: NDArray[np.float32],
    predicted: NDArray[np.float32],
    path: Path,
    title: str,
) -> None:
    """The held-out stretch: the series before it, the actual values and the forecast."""
    fig, axis = plt.subplots(figsize=(9, 4))
    start = len(history)
    axis.plot(range(start), history, color="gray", label="history")
    axis.plot(range(start, start + len(actual)), actual, label="actual")
    axis.plot(range(start, start + len(predicted)), predicted, "--", label="forecast")
    axis.set_xlabel("month")
    axis.set_title(title)
    axis.legend()
    axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
