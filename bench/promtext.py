"""Read the batch-size histogram out of the service's Prometheus text."""

import re
from collections.abc import Mapping, Sequence

_LOAD = re.compile(r"^kerasserve_model_load_seconds\{.*$", re.MULTILINE)

_BUCKET = re.compile(
    r"^kerasserve_batch_size_bucket\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+-]+)$", re.MULTILINE
)
_LE = re.compile(r'le="([^"]+)"')


def batch_buckets(text: str, model: str) -> dict[float, float]:
    """Cumulative counts per upper bound (``le``) of ``model``'s batch-size histogram."""
    buckets: dict[float, float] = {}
    for match in _BUCKET.finditer(text):
        labels = match.group("labels")
        le = _LE.search(labels)
        if f'model="{model}"' in labels and le is not None:
            bound = float(le.group(1))
            buckets[bound] = buckets.get(bound, 0.0) + float(match.group("value"))
    return buckets


def distribution(before: Mapping[float, float], after: Mapping[float, float]) -> str:
    """Share of batches per size range between two scrapes, e.g. ``1:10% 2-4:90%``."""
    bounds = sorted(after)
    counts, previous_bound, previous_total = [], 0.0, 0.0
    for bound in bounds:
        total = after[bound] - before.get(bound, 0.0)
        counts.append((previous_bound, bound, total - previous_total))
        previous_bound, previous_total = bound, total
    batches = previous_total
    if batches <= 0:
        return "no batches"
    parts = []
    for low, high, count in counts:
        if count <= 0:
            continue
        low_size = int(low) + 1
        label = "inf" if high == float("inf") else str(int(high))
        span = label if low_size >= high else f"{low_size}-{label}"
        parts.append(f"{span}:{count / batches:.0%}")
    return " ".join(parts)


def batch_totals(text: str, model: str) -> tuple[float, float]:
    """(rows, batches) so far: the histogram's ``_sum`` and ``_count`` for ``model``."""
    totals = [0.0, 0.0]
    for index, suffix in enumerate(("sum", "count")):
        pattern = re.compile(
            rf"^kerasserve_batch_size_{suffix}\{{([^}}]*)\}} ([0-9.e+-]+)$", re.MULTILINE
        )
        for match in pattern.finditer(text):
            if f'model="{model}"' in match.group(1):
                totals[index] += float(match.group(2))
    return totals[0], totals[1]


def process_key(text: str) -> str:
    """What tells worker processes apart: each timed its own model loads."""
    return "\n".join(sorted(_LOAD.findall(text)))


def combine(texts: Sequence[str]) -> str:
    """Scrapes of several workers as one text; the parsers above sum matching series."""
    return "\n".join(texts)
