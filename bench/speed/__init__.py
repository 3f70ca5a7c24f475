"""Where time goes, measured one way, by the one timer (``methods.timing``: whole-batch wall
times, and per-stage profiles apart from them): ``ann`` (a search backend's recall against the exact scan and its queries per second
over its query grid), and the three tools built on them: ``throughput`` (a method's stages per
query, through the Method interface), ``sweep`` (each backend's recall-QPS grid on one set of
vectors) and ``scaling`` (IRGen's parts and each backend against the database size)."""
