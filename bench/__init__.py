"""Running, evaluating, storing and reporting retrieval benchmarks."""
