"""Where time goes, measured one way, by the one timer (``methods.runtime.timing``: whole-batch wall
times, and per-stage profiles apart from them): ``ann`` (a search backend's recall against the exact scan and its queries per second
over its query grid), and the logic of the three commands built on them: ``query_timing``
(``bench.throughput``: a method's stages per query, through the Method interface; bench.run's
query timing too), ``backend_sweep`` (``bench.sweep``: each backend's recall-QPS grid on one set
of vectors) and ``database_scaling`` (``bench.scaling``: IRGen's parts and each backend against
the database size)."""
