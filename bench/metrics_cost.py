"""Microseconds of metric writes one lone classify request makes, in this checkout.

The runtime and the HTTP layer write six series per request (queue depth twice,
queue wait, batch size, inference time, the request counter and its latency). Run it
from two checkouts to compare them; the figure is the best of seven repeats.

    python -m bench.metrics_cost
"""

import timeit

from service.metrics import ServiceMetrics


def one_request(metrics: ServiceMetrics) -> None:
    """The writes `/v1/classify` makes for one image on an idle model."""
    metrics.queue_depth("fashion_mlp", 1, 1)
    metrics.queue_wait("fashion_mlp", 1, 0.00003)
    metrics.queue_depth("fashion_mlp", 1, 0)
    metrics.batch_ran("fashion_mlp", 1, 1, 1, 0.00004)
    metrics.observe_request(
        model="fashion_mlp", version="1", endpoint="/v1/classify", status=200, seconds=0.0003
    )


def main(calls: int = 20_000) -> None:
    metrics = ServiceMetrics()
    best = min(timeit.repeat(lambda: one_request(metrics), number=calls, repeat=7))
    print(f"metric writes per request: {best / calls * 1e6:.2f} us")


if __name__ == "__main__":
    main()
