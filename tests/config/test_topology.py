from __future__ import annotations

from opsconductor.engine.config.bundle import Dependency, Source
from opsconductor.engine.config.topology import Topology

SRC = Source("d.yaml", 1)


def dep(device: str, upstream: str, kind: str = "network") -> Dependency:
    return Dependency(device, upstream, kind, None, SRC)


def test_exact_beats_cidr_per_type_and_most_specific_cidr_wins() -> None:
    topo = Topology([dep("10.0.0.0/16", "10.0.0.1"), dep("10.0.1.0/24", "10.0.1.1"),
                     dep("10.0.1.50", "10.0.9.9"), dep("10.0.1.0/24", "10.0.0.5", "power")])
    assert {(e.upstream, e.type) for e in topo.upstreams("10.0.1.7")} == {("10.0.1.1", "network"), ("10.0.0.5", "power")}
    assert {e.upstream for e in topo.upstreams("10.0.1.50")} == {"10.0.9.9", "10.0.0.5"}
    assert {e.upstream for e in topo.upstreams("10.0.2.3")} == {"10.0.0.1"}
    # The upstream switch sits inside the subnet it feeds: it does not depend on itself.
    assert {e.upstream for e in topo.upstreams("10.0.1.1")} == {"10.0.0.1", "10.0.0.5"}
    assert topo.upstreams("192.0.2.1") == () and topo.upstreams(None) == ()


def test_ancestors_transitive_and_cycle_safe() -> None:
    topo = Topology([dep("10.0.0.3", "10.0.0.2"), dep("10.0.0.2", "10.0.0.1"), dep("10.0.0.1", "10.0.0.3")])
    assert [e.upstream for e in topo.ancestors("10.0.0.3")] == ["10.0.0.2", "10.0.0.1", "10.0.0.3"]
    (cycle,) = topo.find_cycles()
    assert len(cycle) == 3


def test_deep_chain_has_no_recursion_limit() -> None:
    chain = [dep(f"10.1.{i // 250}.{i % 250 + 1}", f"10.1.{(i + 1) // 250}.{(i + 1) % 250 + 1}") for i in range(5000)]
    topo = Topology(chain)
    assert topo.find_cycles() == []
    assert len(topo.ancestors("10.1.0.1")) == 5000
