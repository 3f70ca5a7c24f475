"""How the grid's cells run: each one a child process (``python -m bench.<tool> ...``) with a
time limit, so that one cell's crash, hang or leaked state never reaches another cell or
the grid. Process-wide settings (OpenMP's wait policy, the GPU a cell may use) are set in
the child's environment, before its interpreter starts.

Three launchers, one outcome per cell (``Outcome``):

* ``local``: here, ``jobs`` cells at a time (one GPU each, round-robin, where several are
  visible); with one job a cell's output is shown as it runs, else it goes to its log only.
* ``slurm``: a Slurm job array through submitit, one cell per task (``--slurm key=value``
  sets submitit's parameters, e.g. ``partition=gpu``, ``gpus_per_node=1``); the results
  folder must be on a file system the nodes share, as ``results/`` and ``cache/`` are written
  there by the tasks.
* ``submitit-local``: the same submitit path with its local executor (no Slurm), to test it.

Every cell's output goes to ``<results>/logs/<cell hash>.log``."""
from __future__ import annotations

import hashlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("bench.grid")

REPO = Path(__file__).resolve().parent.parent
UNAVAILABLE, INTERRUPTED = 3, 130
SIGNALS = {s.value for s in signal.Signals}


@dataclass(frozen=True)
class Cell:
    """One call of a tool: ``python -m bench.<tool> <argv> <common>``."""

    tool: str
    argv: tuple[str, ...]
    common: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The cell as a user would type it, without the flags every cell of the grid shares."""
        return " ".join((f"python -m bench.{self.tool}",) + self.argv)

    @property
    def key(self) -> str:
        return hashlib.sha1(self.label.encode()).hexdigest()[:12]

    def command(self) -> list[str]:
        return [sys.executable, "-m", f"bench.{self.tool}", *self.argv, *self.common]


@dataclass
class Outcome:
    cell: Cell
    status: str  # ok | failed | timeout | unavailable | interrupted
    seconds: float
    reason: str = ""  # the last line of the error, for the failures table
    log: str = ""
    cpu_seconds: float | None = None  # user + system time of the cell's process and those it waited for


@dataclass
class Settings:
    """What every cell of one grid run shares."""

    logs: Path
    timeout: float | None = None  # seconds; None: no limit
    env: dict = field(default_factory=dict)  # set in every cell's environment
    echo: bool = True  # show a cell's output as it runs (one job at a time)


def cell_env(extra: dict, gpu: str | None = None) -> dict:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **extra}
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # spinning OpenMP teams slow a shared machine's other work
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    return env


def run_cell(cell: Cell, settings: Settings, gpu: str | None = None) -> Outcome:
    """Run one cell to its end or its time limit; its output goes to its log (and, with ``echo``,
    to this process's stderr as it comes)."""
    settings.logs.mkdir(parents=True, exist_ok=True)
    log_path = settings.logs / f"{cell.key}.log"
    start = time.perf_counter()
    with open(log_path, "w") as out:
        out.write(f"$ {cell.label}\n")
        out.flush()
        proc = subprocess.Popen(cell.command(), cwd=REPO, env=cell_env(settings.env, gpu), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", start_new_session=True)
        pump = threading.Thread(target=copy_output, args=(proc.stdout, out, settings.echo), daemon=True)
        pump.start()
        try:
            code, cpu = wait_with_usage(proc, settings.timeout)
        except subprocess.TimeoutExpired:
            stop(proc)
            code, cpu = None, None
        except KeyboardInterrupt:
            stop(proc)
            raise
        pump.join(timeout=10)
    seconds = time.perf_counter() - start
    if code is None:
        return Outcome(cell, "timeout", seconds, f"no answer after the {settings.timeout:.0f} s limit (--cell-timeout)",
                       str(log_path))
    status = {0: "ok", UNAVAILABLE: "unavailable", INTERRUPTED: "interrupted"}.get(code, "failed")
    reason = "" if status == "ok" else last_error_line(log_path, code)
    return Outcome(cell, status, seconds, reason, str(log_path), cpu)


def wait_with_usage(proc: subprocess.Popen, timeout: float | None) -> tuple[int, float]:
    """``proc``'s exit code and CPU seconds (user + system, its waited-for children included), the
    load-independent share of a cell's time; ``subprocess.TimeoutExpired`` after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_utime + usage.ru_stime
        if deadline is not None and time.monotonic() >= deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.1)


def copy_output(stream, out, echo: bool) -> None:
    for line in stream:
        out.write(line)
        out.flush()
        if echo:
            sys.stderr.write(line)


def stop(proc: subprocess.Popen) -> None:
    """End a cell and every process it started (torchrun's workers, SPANN's worker)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


TRACEBACK = "Traceback (most recent call last):"
# lines that say nothing of what went wrong: the cell's command (a log's first line), the harness's
# log records, tqdm's bars and a library's own log lines (SPTAG prints "[1] Using AVX2 InstructionSet!")
PROGRESS = re.compile(r"^(\$ |INFO |WARNING |DEBUG |\[\d+\] )|%\|")


def last_error_line(log_path: Path, code: int) -> str:
    """The line that says what went wrong: the harness's one-line error, else the exception line of
    the last traceback (its message may go on over further lines), else the last line that is not
    progress."""
    raw = Path(log_path).read_text(errors="replace").splitlines()
    lines = [line.strip() for line in raw if line.strip()]
    for line in reversed(lines):
        if line.startswith(("error:", "unavailable:", "interrupted:")):
            return line
    status = f"exit code {code}" + (f" ({signal.Signals(-code).name})" if code < 0 and -code in SIGNALS else "")
    starts = [i for i, line in enumerate(raw) if line.startswith(TRACEBACK)]
    if starts:
        after = (line for line in raw[starts[-1] + 1:] if line.strip() and not line[0].isspace())
        exception = next(after, "")
        if exception:
            return f"{status}: {exception.strip()}"
    for line in reversed(lines):
        if not PROGRESS.search(line):
            return f"{status}: {line}"
    return status


# ---------------------------------------------------------------- launchers


def run_local(cells: list[Cell], settings: Settings, jobs: int = 1, gpus: list[str] | None = None, on_done=None):
    """Run ``cells`` here, ``jobs`` at a time; ``on_done(outcome)`` as each ends. Stops (and
    re-raises) on Ctrl-C; a cell interrupted by its own signal ends the grid too."""
    gpus = gpus or []
    if jobs <= 1:
        for cell in cells:
            outcome = run_cell(cell, settings, gpus[0] if gpus else None)
            on_done(outcome)
            if outcome.status == "interrupted":
                raise KeyboardInterrupt
        return
    quiet = Settings(settings.logs, settings.timeout, settings.env, echo=False)
    slots = [gpus[i % len(gpus)] if gpus else None for i in range(jobs)]
    free = list(range(jobs))
    lock = threading.Lock()

    def one(cell: Cell) -> Outcome:
        with lock:
            slot = free.pop()
        try:
            return run_cell(cell, quiet, slots[slot])
        finally:
            with lock:
                free.append(slot)

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, cell) for cell in cells]
        for future in as_completed(futures):
            on_done(future.result())


def run_submitit(cells: list[Cell], settings: Settings, folder: Path, cluster: str, parameters: dict, jobs: int,
                 on_done=None) -> None:
    """Submit ``cells`` as one job array (one cell a task) and collect the outcomes."""
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=cluster)
    limit = {"timeout_min": max(1, int(settings.timeout // 60) + 5)} if settings.timeout else {}
    if cluster == "slurm":
        executor.update_parameters(name="irgen-bench", slurm_array_parallelism=jobs, **limit, **parameters)
    else:
        executor.update_parameters(**limit, **parameters)
    quiet = Settings(settings.logs, settings.timeout, settings.env, echo=False)
    submitted = executor.map_array(run_cell, cells, [quiet] * len(cells))
    log.info("submitted %d cells as %s job array %s (logs: %s)", len(cells), cluster,
             submitted[0].job_id if submitted else "-", folder)
    for cell, job in zip(cells, submitted):
        try:
            on_done(job.result())
        except Exception as e:  # noqa: BLE001 - the task itself died: the cell is a failure, the grid goes on
            on_done(Outcome(cell, "failed", 0.0, f"{cluster} task {job.job_id}: {type(e).__name__}: "
                                                 f"{(str(e).strip().splitlines() or [''])[-1]}", str(folder)))
