"""The one timer. Every time the harness reports (a stage of a method, a backend's search or
build, a feature extraction, a whole batch of queries) is read by a ``Stopwatch``: the
monotonic clock, with the device synchronised at both ends of each stage where it runs
asynchronously (CUDA), so no stage's device work is counted in another or in none.

``Timer`` repeats a run (``warmup`` untimed, then ``repeats`` timed) two ways, kept apart so
the breakdown never changes the loop whose total is reported:

* ``batch_seconds``: the whole run's wall time, each repeat; the run gets a stopwatch that
  never waits on the device (the loop as it runs in production), the clock is synchronised
  only around the whole run. Queries per second is a batch over the median of these.
* ``profile``: the median seconds of each stage, with the device synchronised around every stage.

A time that comes from a cache is never a measurement of the run that reuses it: ``Measured``
carries the run it was measured in."""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

Sync = Callable[[], None]


def device_sync(device) -> Sync | None:
    """What waits for ``device``'s queued work: ``torch.cuda.synchronize`` on CUDA, nothing on a CPU."""
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return None


def threads() -> int:
    """The CPU threads this process computes with (torch's; Faiss and ScaNN follow the same OpenMP count)."""
    import torch

    return torch.get_num_threads()


class Stopwatch:
    """Accumulates seconds per named stage: ``with sw("encoder"): ...``; with ``sync`` the device
    is synchronised before the clock starts and before it stops."""

    def __init__(self, sync: Sync | None = None):
        self.seconds: dict[str, float] = {}
        self._sync = sync or (lambda: None)

    @classmethod
    def for_device(cls, device) -> "Stopwatch":
        return cls(device_sync(device))

    @contextmanager
    def __call__(self, stage: str):
        self._sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.add(stage, time.perf_counter() - start)

    def add(self, stage: str, seconds: float) -> None:
        """Count seconds measured elsewhere (a worker process's own clock) under ``stage``."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds


def timed(run: Callable[[], object], sync: Sync | None = None) -> tuple[object, float]:
    """(``run()``, its seconds), the device synchronised at both ends."""
    watch = Stopwatch(sync)
    with watch("run"):
        out = run()
    return out, watch.seconds["run"]


@dataclass(frozen=True)
class Measured:
    """Seconds and where they were measured: ``run`` is empty for this run, else the id of the
    run whose cached result is reused (its seconds are that run's, never this one's)."""

    seconds: float
    run: str = ""

    def __float__(self) -> float:
        return float(self.seconds)

    @property
    def source(self) -> str:
        """How a results row labels it: ``measured`` or ``cached from run <id>``."""
        return f"cached from run {self.run}" if self.run else "measured"


@dataclass
class Timer:
    repeats: int = 5
    warmup: int = 2
    sync: Sync | None = None

    def __post_init__(self):
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError(f"repeats {self.repeats} must be >= 1 and warmup {self.warmup} >= 0")

    @classmethod
    def for_device(cls, device: str, repeats: int = 5, warmup: int = 2) -> "Timer":
        return cls(repeats, warmup, device_sync(device))

    def batch_seconds(self, run: Callable[[Stopwatch], object]) -> list[float]:
        """Wall seconds of each timed repeat of ``run(stopwatch)``, the stopwatch one that never
        waits on the device, the device synchronised around the whole run only."""
        for _ in range(self.warmup):
            run(Stopwatch())
        return [timed(lambda: run(Stopwatch()), self.sync)[1] for _ in range(self.repeats)]

    def total(self, run: Callable[[Stopwatch], object]) -> float:
        """The median of ``batch_seconds``."""
        return statistics.median(self.batch_seconds(run))

    def profile(self, run: Callable[[Stopwatch], object]) -> dict[str, float]:
        """Median seconds per stage of ``run(stopwatch)`` over the repeats, after the warm-up,
        the device synchronised around every stage (a separate loop from ``batch_seconds``)."""
        for _ in range(self.warmup):
            run(Stopwatch(self.sync))
        runs = []
        for _ in range(self.repeats):
            watch = Stopwatch(self.sync)
            run(watch)
            runs.append(watch.seconds)
        return median_stages(runs)


def median_stages(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per stage, the median of its seconds over the runs (a run that skipped a stage counts 0)."""
    stages = list(dict.fromkeys(stage for r in runs for stage in r))
    return {stage: statistics.median(r.get(stage, 0.0) for r in runs) for stage in stages}
