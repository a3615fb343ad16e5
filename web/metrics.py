"""HTTP-side Prometheus metrics; /metrics adds the engine's own text after these."""
from __future__ import annotations

import threading
from collections import defaultdict

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
        lines = [
            "# HELP opsc_http_requests_total HTTP requests answered, by method, route template and status.",
            "# TYPE opsc_http_requests_total counter",
        ]
        with self._lock:
            for (method, route, status), n in sorted(self._requests.items()):
                lines.append(f'opsc_http_requests_total{{method="{method}",route="{_esc(route)}",status="{status}"}} {n}')
            lines += [
                "# HELP opsc_http_request_duration_seconds Time to answer an HTTP request, by route template.",
                "# TYPE opsc_http_request_duration_seconds histogram",
            ]
            for route, buckets in sorted(self._buckets.items()):
                r = _esc(route)
                for bound, n in zip(BUCKETS, buckets):
                    lines.append(f'opsc_http_request_duration_seconds_bucket{{route="{r}",le="{bound}"}} {n}')
                lines.append(f'opsc_http_request_duration_seconds_bucket{{route="{r}",le="+Inf"}} {buckets[-1]}')
                lines.append(f'opsc_http_request_duration_seconds_sum{{route="{r}"}} {self._sums[route]:.6f}')
                lines.append(f'opsc_http_request_duration_seconds_count{{route="{r}"}} {buckets[-1]}')
            lines += [
                "# HELP opsc_sse_clients Dashboard clients connected to the live alert stream.",
                "# TYPE opsc_sse_clients gauge",
                f"opsc_sse_clients {self.sse_clients}",
            ]
        return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
