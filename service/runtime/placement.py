"""Where a batch runs: on the event loop itself, or on an inference thread.

The hop to an inference thread and back costs the loop about 0.1 ms on an idle
process, and more under load: wake-ups, and waiting for the interpreter lock while the
thread collates. A model call faster than that costs the loop less run in place. So
the rules need the model's own time per padded batch size: measured once at load, on
a process with nothing else to do (`service.runtime.warmup.time_batches`), then by
every call that runs on the loop. A call on a thread counts only for a size not yet
measured or when it is faster than the estimate: timed there under load it includes
the waits for the lock, so a slower time would make a fast model look slow for good (it
would never run on the loop again to say otherwise), while a faster one proves the
estimate too high. One slow call on the loop (the thread descheduled, a collection)
moves the estimate by a bounded step, so a noisy minute cannot push a fast model off
the loop for good either.
"""

from collections.abc import Mapping

from service.runtime.settings import RuntimeSettings

SMOOTHING = 0.2  # weight of each new measurement in the moving average
OUTLIER = 2.0  # a call counts as at most this many times the estimate


class Placement:
    """The model's own seconds per padded batch size, and the rules that read them."""

    def __init__(self, settings: RuntimeSettings, measured: Mapping[int, float] | None = None):
        self._settings = settings
        self._seconds: dict[int, float] = dict(measured or {})

    def seconds(self, padded: int) -> float:
        """The model's own time for a batch of ``padded`` rows; 0 until measured."""
        return self._seconds.get(padded, 0.0)

    def lone_row_on_loop(self) -> bool:
        """One row with nothing else queued or running: on the loop if its call takes at
        most ``idle_inline_max_s`` (nobody waits for the loop meanwhile)."""
        return 0.0 < self.seconds(1) <= self._settings.idle_inline_max_s

    def batch_on_loop(self, padded: int) -> bool:
        """A batch while others may wait for the loop: in place only if its call takes at
        most ``inline_batch_max_s``, less than the hop would cost the loop."""
        return 0.0 < self.seconds(padded) <= self._settings.inline_batch_max_s

    def record(self, padded: int, seconds: float, *, on_loop: bool) -> None:
        """One call's own time (module docstring: a thread's counts for a new size, or
        when it is below the estimate; any call counts as at most ``OUTLIER`` times it)."""
        previous = self._seconds.get(padded)
        if previous is None:
            self._seconds[padded] = seconds
        elif on_loop or seconds < previous:
            seconds = min(seconds, OUTLIER * previous)
            self._seconds[padded] = previous + SMOOTHING * (seconds - previous)
