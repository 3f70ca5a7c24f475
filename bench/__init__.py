"""Running, measuring and reporting: the commands (``python -m bench.<command>``) and what
they share.

Commands: ``run`` (one method on one dataset: its results cells), ``train`` (a method's
models, alone or under torchrun), ``grid`` (grid files -> cells, each a child process, then
the report), ``report`` (reports/ from results/), ``throughput`` / ``sweep`` / ``scaling``
(the speed tools), ``regress`` (the CI guard on metrics), ``results --check``.

Shared: ``cli`` (flags, one-line errors), ``metrics`` and ``evaluate`` (a ranking -> metric
rows), ``sharded`` (search across torchrun's processes), ``launch`` (cells as child
processes: local, Slurm), ``results/`` (the one table format, the store, manifests),
``speed/`` (the one timer, ANN evaluation, the speed tools' logic), ``report/`` (tables,
figures, names, README).
"""
import os

# Every command of the harness runs with OpenMP's passive wait policy, set here, before torch
# or faiss start their thread teams: spinning teams slow everything else on a shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
