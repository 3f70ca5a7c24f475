"""A stand-in method for the crash-safety tests: no training, many cheap settings, and hooks
the tests drive through the environment (a real method is too slow to make writes overlap).

Run as ``python -m tests.reliability.fakes ARGS`` it is ``python -m bench.run --method fake ARGS``:

* ``FAKE_SETTINGS``: how many settings (cells), default 3;
* ``FAKE_LOG``: a file each searched setting is appended to, one line each;
* ``FAKE_READY`` / ``FAKE_GO``: ``fit`` creates the first file, then waits for the second
  (lets the test start several writers at the same moment);
* ``FAKE_HANG_ON``: the setting whose search never ends (the test kills the process there).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from methods.base import Method, Retrieval

NAME = "fake"


class Settings(Method):
    name = NAME

    def settings(self, n_database):
        return [{"beam": b} for b in range(1, int(os.environ.get("FAKE_SETTINGS", "3")) + 1)]

    def fit(self, dataset, ctx):
        self.n_db = len(dataset.database)
        if "FAKE_READY" in os.environ:
            Path(os.environ["FAKE_READY"]).touch()
            while not Path(os.environ["FAKE_GO"]).exists():
                time.sleep(0.05)

    def index(self, database, ctx):
        pass

    def search(self, query, k, setting, ctx):
        if str(setting["beam"]) == os.environ.get("FAKE_HANG_ON"):
            time.sleep(3600)
        if "FAKE_LOG" in os.environ:
            with open(os.environ["FAKE_LOG"], "a") as log:
                log.write(f"{setting['beam']}\n")
        ids = (np.arange(k)[None, :] + setting["beam"] * np.arange(len(query))[:, None]) % self.n_db
        return Retrieval(ids=ids, timings={"search": 0.01})

    def search_batch(self, query, rows, k, setting, ctx, stopwatch):
        """The timed query path (bench.run's queries/s): no hook, not logged as a searched setting."""
        return (np.arange(k)[None, :] + setting["beam"] * np.asarray(rows)[:, None]) % self.n_db


def build(name, options) -> Settings:
    return Settings()


def main(argv: list[str]) -> int:
    from bench.run import main as run_main
    from methods.registry import MethodSpec, register

    register(MethodSpec(NAME, "tests.reliability.fakes", "fake settings"))
    return run_main(["--method", NAME, *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
