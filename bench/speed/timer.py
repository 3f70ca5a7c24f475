"""The one timer of the speed tools: ``warmup`` untimed runs, then ``repeats`` timed ones,
and per stage the median over the repeats (robust to other load on a shared machine). A run
is a function of a ``Stopwatch``; every stage it times is synchronised with the device
around it (CUDA runs asynchronously) when the timer has a ``sync``."""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable

from methods.base import Stopwatch


@dataclass
class Timer:
    repeats: int = 5
    warmup: int = 2
    sync: Callable[[], None] | None = None

    def __post_init__(self):
        if self.repeats < 1 or self.warmup < 0:
            raise ValueError(f"repeats {self.repeats} must be >= 1 and warmup {self.warmup} >= 0")

    @classmethod
    def for_device(cls, device: str, repeats: int = 5, warmup: int = 2) -> "Timer":
        if str(device).startswith("cuda"):
            import torch

            return cls(repeats, warmup, torch.cuda.synchronize)
        return cls(repeats, warmup)

    def stages(self, run: Callable[[Stopwatch], object]) -> dict[str, float]:
        """Median seconds per stage of ``run(stopwatch)`` over the repeats, after the warm-up."""
        for _ in range(self.warmup):
            run(Stopwatch(self.sync))
        runs = []
        for _ in range(self.repeats):
            watch = Stopwatch(self.sync)
            run(watch)
            runs.append(watch.seconds)
        return median_stages(runs)

    def seconds(self, stage: str, run: Callable[[Stopwatch], object]) -> float:
        """The median seconds of one stage of ``run``."""
        return self.stages(run)[stage]


def median_stages(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per stage, the median of its seconds over the runs (a run that skipped a stage counts 0)."""
    stages = list(dict.fromkeys(stage for r in runs for stage in r))
    return {stage: statistics.median(r.get(stage, 0.0) for r in runs) for stage in stages}


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()
