"""HTTP-side Prometheus metrics (and the process_* ones); /metrics adds the engine's families after these."""
from __future__ import annotations

import threading
from collections import defaultdict

from opsconductor.engine.metrics import Exposition

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self._sums: dict[str, float] = defaultdict(float)
        self.sse_clients = 0

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self._requests[(method, route, str(status))] += 1
            buckets = self._buckets[route]
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    buckets[i] += 1
            buckets[-1] += 1
            self._sums[route] += seconds

    def render(self) -> str:
        """The HTTP families and the process_* metrics (once per scrape: the engine's text,
        appended by /metrics, has none)."""
        out = Exposition()
        with self._lock:
            out.metric("opsc_http_requests_total", "counter", "HTTP requests answered, by method, route template and "
                       "status.", [({"method": m, "route": r, "status": st}, n)
                                   for (m, r, st), n in sorted(self._requests.items())])
            out.histogram("opsc_http_request_duration_seconds", "Time to answer an HTTP request, by route template.",
                          BUCKETS, [({"route": route}, list(buckets), self._sums[route])
                                    for route, buckets in sorted(self._buckets.items())])
            out.metric("opsc_sse_clients", "gauge", "Dashboard clients connected to the live alert stream.",
                       [({}, self.sse_clients)])
        return out.text(with_process=True)
