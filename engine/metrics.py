"""Prometheus metrics through prometheus_client: families built from the engine's and the web
layer's own counters at each scrape (nothing is counted twice), rendered by the client
library (escaping, `_bucket`/`_sum`/`_count`), with the process_* metrics of the process."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from prometheus_client import PlatformCollector, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import CollectorRegistry

Samples = Iterable[tuple[dict[str, str], float]]


class Exposition:
    """The metric families of one scrape."""

    def __init__(self) -> None:
        self.families: list = []

    def metric(self, name: str, kind: str, help_text: str, samples: Samples) -> None:
        samples = list(samples)
        labels = sorted({k for label_set, _ in samples for k in label_set})
        family_type = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily}[kind]
        family = family_type(name, help_text, labels=labels)
        for label_set, value in samples:
            family.add_metric([str(label_set.get(k, "")) for k in labels], float(value))
        self.families.append(family)

    def histogram(self, name: str, help_text: str, bounds: Sequence[float],
                  series: Iterable[tuple[dict[str, str], Sequence[int], float]]) -> None:
        """series: (labels, cumulative counts — observations ≤ each bound, then all of them —, sum)."""
        series = list(series)
        labels = sorted({k for label_set, _, _ in series for k in label_set})
        family = HistogramMetricFamily(name, help_text, labels=labels)
        edges = [repr(float(b)) for b in bounds] + ["+Inf"]
        for label_set, cumulative, total in series:
            family.add_metric([str(label_set.get(k, "")) for k in labels], list(zip(edges, cumulative, strict=True)),
                              total)
        self.families.append(family)

    def collect(self):  # the prometheus_client collector protocol
        return iter(self.families)

    def text(self, *, with_process: bool = False) -> str:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(self)
        if with_process:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
        return generate_latest(registry).decode("utf-8")


class Histogram:
    """A histogram the stats keep (bucket counts, not samples): O(1) per observation, and
    exact figures for Prometheus' histogram_quantile."""

    def __init__(self, bounds: Sequence[float]):
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                break
        else:
            self.counts[-1] += 1
        self.total += value

    def expose(self, out: Exposition, name: str, help_text: str) -> None:
        cumulative = list(itertools.accumulate(self.counts))
        out.histogram(name, help_text, self.bounds, [({}, cumulative, self.total)])
