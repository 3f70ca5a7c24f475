"""Where time goes, measured one way: ``timer`` (the one timer: warm-up, repeats, median per
stage), ``ann`` (a search backend's recall against the exact scan and its queries per second
over its query grid), and the three tools built on them: ``throughput`` (a method's stages per
query, through the Method interface), ``sweep`` (each backend's recall-QPS grid on one set of
vectors) and ``scaling`` (IRGen's parts and each backend against the database size)."""
