"""Speed against accuracy, as pure functions of points: the one Pareto front (used by every
figure that marks one) and the operating point a speed comparison picks."""
from __future__ import annotations


def pareto_front(points: list[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    """(speed, accuracy, label) points no other point beats on both, by speed."""
    front = [p for p in points
             if not any(q[0] >= p[0] and q[1] >= p[1] and (q[0], q[1]) != (p[0], p[1]) for q in points)]
    return sorted(set(front))


def operating_point(rows: list[dict], target: float, speed: str = "qps_batch", accuracy: str = "recall") -> dict:
    """The fastest row reaching ``target`` accuracy, else the most accurate one (fastest among equals)."""
    reaching = [r for r in rows if r[accuracy] >= target]
    if reaching:
        return max(reaching, key=lambda r: r[speed])
    return max(rows, key=lambda r: (r[accuracy], r[speed]))
