"""The dependency graph: which upstream devices a device depends on.

One definition serves validation (cycles) and correlation (suppression), so both
agree on what "upstream" means:
- per dependency type (network, power, …): edges naming the device's IP exactly
  apply to it; otherwise the most specific CIDR edge(s) containing the IP apply,
  except an edge whose upstream is the device itself (a switch inside the camera
  subnet it feeds). So a camera can take its network upstream from its subnet and
  its power upstream from an exact edge.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from .bundle import Dependency


@dataclass(frozen=True)
class Edge:
    device: str
    upstream: str
    type: str
    dependency: Dependency


class Topology:
    def __init__(self, dependencies: tuple[Dependency, ...] | list[Dependency]):
        self._exact: dict[str, list[Dependency]] = {}
        self._networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Dependency]] = []
        for dep in dependencies:
            if dep.is_network:
                self._networks.append((dep.network(), dep))
            else:
                self._exact.setdefault(dep.device, []).append(dep)
        # Most specific network first.
        self._networks.sort(key=lambda item: -item[0].prefixlen)
        self._cache: dict[str, tuple[Edge, ...]] = {}

    def upstreams(self, ip: str | None) -> tuple[Edge, ...]:
        if not ip:
            return ()
        cached = self._cache.get(ip)
        if cached is not None:
            return cached
        edges = [Edge(ip, d.depends_on, d.type, d) for d in self._exact.get(ip, ())]
        exact_types = {e.type for e in edges}
        addr = _addr(ip)
        if addr is not None:
            best_len: dict[str, int] = {}
            for net, dep in self._networks:
                if dep.type in exact_types or dep.depends_on == ip or addr.version != net.version:
                    continue
                if dep.type in best_len and net.prefixlen < best_len[dep.type]:
                    continue
                if addr in net:
                    best_len[dep.type] = net.prefixlen
                    edges.append(Edge(ip, dep.depends_on, dep.type, dep))
        result = tuple(edges)
        self._cache[ip] = result
        return result

    def nodes(self) -> set[str]:
        """Every concrete device address the graph mentions."""
        out = set(self._exact)
        for deps in self._exact.values():
            out.update(d.depends_on for d in deps)
        out.update(dep.depends_on for _, dep in self._networks)
        return out

    def ancestors(self, ip: str | None) -> list[Edge]:
        """All upstream edges, transitively, nearest first (breadth-first, cycle-safe)."""
        seen = {ip}
        out: list[Edge] = []
        frontier: list[str | None] = [ip]
        while frontier:
            nxt: list[str | None] = []
            for node in frontier:
                for edge in self.upstreams(node):
                    out.append(edge)
                    if edge.upstream not in seen:
                        seen.add(edge.upstream)
                        nxt.append(edge.upstream)
            frontier = nxt
        return out

    def find_cycles(self) -> list[list[Edge]]:
        """Each cycle once, as the list of edges that close it (iterative: trees can be deep)."""
        cycles: list[list[Edge]] = []
        seen_sets: set[frozenset[str]] = set()
        state: dict[str, int] = {}  # 1 on the current path, 2 finished
        for root in sorted(self.nodes()):
            if root in state:
                continue
            state[root] = 1
            path: list[Edge] = []
            stack = [(root, iter(self.upstreams(root)))]
            while stack:
                node, edges = stack[-1]
                edge = next(edges, None)
                if edge is None:
                    state[node] = 2
                    stack.pop()
                    if path:
                        path.pop()
                    continue
                nxt = edge.upstream
                if state.get(nxt) == 1:
                    start = next((i for i, e in enumerate(path) if e.device == nxt), len(path))
                    cycle = [*path[start:], edge]
                    key = frozenset(e.device for e in cycle)
                    if key not in seen_sets:
                        seen_sets.add(key)
                        cycles.append(cycle)
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(edge)
                    stack.append((nxt, iter(self.upstreams(nxt))))
        return cycles


@lru_cache(maxsize=65536)
def _addr(ip: str):
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None
