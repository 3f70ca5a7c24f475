"""The machinery every method runs on; no method lives here, and nothing here knows one.

- Processes: ``distributed`` (torchrun's ranks, row blocks, gathers), ``data_parallel`` (one
  step's gradients over the global batch in one process or N), ``sync_batch_norm`` (batch
  norm over the global batch).
- Training shared by IRGen and the feature models: ``training`` (the schedule, optimiser,
  batches, flips and the one step loop), ``checkpoint`` (a run's files, so a killed run
  resumes), ``weights`` (published weight files, the checked loader, the paper preset).
- The device and time: ``timing`` (the one timer), ``hardware`` (the processor),
  ``rng`` (the one rule for random streams), ``compile`` (torch.compile, off unless asked).
- Data as the harness keeps it: ``files`` (stable keys, atomic writes, safe reads; the
  results store and the report write through it too), ``overrides`` (configs from
  ``--set`` / ``--config``), ``fresh`` (the database share every method holds out of
  training, so all of them train on the same images).

Interface (``methods.base``) and registry (``methods.registry``) stay at ``methods/``'s root;
networks (the feature models and their pretrained backbones) live in ``methods/features``.
"""
