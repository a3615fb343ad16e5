"""The dependency topology as data and as a server-side SVG (a simple layered layout).

Edges go device → upstream (dependencies.device_ip → depends_on_ip). Upstreams sit at
the top; each device one layer below its lowest upstream. An upstream may be a CIDR
(a camera subnet behind a switch); devices with open alerts inside it are drawn under
it, so a suppressed subtree shows up as the dashed nodes below the failed device.

The suppression path is the one the engine used: each suppressed alert names its root
(correlated_to_id), and the edges from the suppressed device up to that root's device are
drawn as the path; other upstreams (the UPS that is fine) stay plain edges.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

NODE_W, NODE_H, GAP_X, GAP_Y, MARGIN = 176, 50, 18, 64, 16
MAX_NODES = 400
MEMBERS_PER_SUBNET = 16


@dataclass
class Node:
    key: str
    name: str | None = None
    subnet: bool = False
    state: dict[str, Any] = field(default_factory=dict)
    parents: list[str] = field(default_factory=list)
    layer: int = 0
    x: float = 0.0
    y: float = 0.0
    path_parents: set[str] = field(default_factory=set)  # upstreams on a suppression path the engine used

    @property
    def under(self) -> dict[str, dict[str, Any]]:
        """Root device IP → {name, count} of the alerts here suppressed under it."""
        return self.state.get("under") or {}

    @property
    def worst(self) -> str | None:
        return self.state.get("worst")

    @property
    def suppressed(self) -> bool:
        return bool(self.state.get("suppressed"))

    @property
    def css(self) -> str:
        classes = ["node", f"sev-{self.worst}" if self.worst else "sev-ok"]
        if self.suppressed and not self.worst:
            classes.append("suppressed")
        if self.subnet:
            classes.append("subnet")
        return " ".join(classes)


def build(deps: list[dict[str, Any]], states: dict[str, dict[str, Any]]) -> list[Node]:
    nodes: dict[str, Node] = {}

    def node(key: str) -> Node:
        if key not in nodes:
            nodes[key] = Node(key, subnet="/" in key, state=states.get(key, {}))
            nodes[key].name = nodes[key].state.get("name")
        return nodes[key]

    for d in deps:
        child, parent = node(d["device_ip"]), node(d["depends_on_ip"])
        if parent.key not in child.parents:
            child.parents.append(parent.key)
    for subnet in [n for n in list(nodes.values()) if n.subnet]:
        _add_members(subnet, nodes, states)
    _paths(nodes)
    _layer(nodes)
    return sorted(nodes.values(), key=lambda n: (n.layer, n.key))[:MAX_NODES]


def _add_members(subnet: Node, nodes: dict[str, Node], states: dict[str, dict[str, Any]]) -> None:
    try:
        net = ipaddress.ip_network(subnet.key, strict=False)
    except ValueError:
        return
    worst: str | None = None
    added = 0
    for ip in sorted(states):
        try:
            inside = ipaddress.ip_address(ip) in net
        except ValueError:
            continue
        if not inside or (ip in nodes and nodes[ip].parents != [subnet.key]):
            continue  # a device drawn in its own right (the switch feeding the subnet) is not a member
        state = states[ip]
        if state.get("worst") and (worst is None or _rank(state["worst"]) > _rank(worst)):
            worst = state["worst"]
        subnet.state = {**subnet.state, "suppressed": subnet.state.get("suppressed", 0) + state.get("suppressed", 0)}
        if ip not in nodes and added < MEMBERS_PER_SUBNET:
            nodes[ip] = Node(ip, name=state.get("name"), state=state, parents=[subnet.key])
            added += 1
    if worst:
        subnet.state["worst"] = worst


def _paths(nodes: dict[str, Node]) -> None:
    """Mark the edges from each suppressed device up to the root it was suppressed under."""
    for n in list(nodes.values()):
        for root in n.under:
            route = _route(n.key, root, nodes, frozenset())
            for child, parent in zip(route, route[1:]):
                nodes[child].path_parents.add(parent)


def _route(key: str, target: str, nodes: dict[str, Node], seen: frozenset[str]) -> list[str]:
    if key == target:
        return [key]
    for p in nodes[key].parents if key in nodes else ():
        if p not in seen:
            rest = _route(p, target, nodes, seen | {key})
            if rest:
                return [key, *rest]
    return []


def paths_text(nodes: list[Node]) -> list[dict[str, Any]]:
    """Each suppressed device's path to its root, as names and IPs, for the page's list."""
    by_key = {n.key: n for n in nodes}
    out = []
    for n in nodes:
        for root, info in sorted(n.under.items()):
            hops, key = [], n.key
            while True:
                hop = by_key.get(key)
                hops.append({"ip": key, "name": hop.name if hop else None})
                nxt = next((p for p in sorted(hop.path_parents) if p in by_key), None) if hop else None
                if key == root or nxt is None or len(hops) > 20:
                    break
                key = nxt
            out.append({"device": n.key, "name": n.name, "root": root, "root_name": info.get("name"),
                        "count": info.get("count", 0), "hops": hops})
    return out


_RANKS = {"critical": 5, "major": 4, "minor": 3, "warning": 2, "info": 1, "clear": 0}


def _rank(severity: str) -> int:
    return _RANKS.get(severity, 0)


def _layer(nodes: dict[str, Node]) -> None:
    memo: dict[str, int] = {}

    def depth(key: str, seen: frozenset[str]) -> int:
        if key in memo:
            return memo[key]
        parents = [p for p in nodes[key].parents if p not in seen]  # a cycle (config refuses them) stops here
        memo[key] = 0 if not parents else 1 + max(depth(p, seen | {key}) for p in parents)
        return memo[key]

    for key in nodes:
        nodes[key].layer = depth(key, frozenset())


def layout(nodes: list[Node]) -> tuple[int, int]:
    """Place nodes (x, y of the top-left corner); returns the drawing's width and height."""
    layers: dict[int, list[Node]] = {}
    for n in nodes:
        layers.setdefault(n.layer, []).append(n)
    position: dict[str, float] = {}
    widest = max((len(v) for v in layers.values()), default=0)
    width = max(2 * MARGIN + widest * (NODE_W + GAP_X) - GAP_X, 320)
    for depth in sorted(layers):
        row = layers[depth]
        # Barycenter of the upstreams keeps children under their parents.
        row.sort(key=lambda n: (_mean([position[p] for p in n.parents if p in position]), n.key))
        span = len(row) * (NODE_W + GAP_X) - GAP_X
        left = (width - span) / 2
        for i, n in enumerate(row):
            n.x, n.y = left + i * (NODE_W + GAP_X), MARGIN + depth * (NODE_H + GAP_Y)
            position[n.key] = n.x
    height = MARGIN * 2 + (max(layers, default=0) + 1) * (NODE_H + GAP_Y) - GAP_Y
    return int(width), int(height)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def svg(nodes: list[Node]) -> Markup:
    width, height = layout(nodes)
    by_key = {n.key: n for n in nodes}
    out = [f'<svg class="topology" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="Dependency topology">']
    for n in nodes:
        for p in n.parents:
            parent = by_key.get(p)
            if parent is None:
                continue
            x1, y1 = n.x + NODE_W / 2, n.y
            x2, y2 = parent.x + NODE_W / 2, parent.y + NODE_H
            mid = (y1 + y2) / 2
            on_path = p in n.path_parents
            css = "edge path" if on_path else "edge suppressed" if n.suppressed and not n.worst else "edge"
            tip = f"<title>suppression path: {escape(n.key)} → {escape(p)}</title>" if on_path else ""
            out.append(f'<path class="{css}" data-from="{escape(n.key)}" data-to="{escape(p)}" d="M{x1:.0f},{y1:.0f} '
                       f'C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} {x2:.0f},{y2:.0f}">{tip}</path>')
    for n in nodes:
        label = escape(n.key if not n.subnet else f"subnet {n.key}")
        name = escape(_short(n.name or ("" if not n.subnet else "devices inside"), 24))
        badge = _badge(n)
        href = f'/alerts?status=open&amp;device_ip={escape(n.key)}' if not n.subnet else "/alerts?status=open"
        out.append(
            f'<a href="{href}"><g class="{n.css}" data-key="{escape(n.key)}" transform="translate({n.x:.0f},{n.y:.0f})">'
            f'<title>{label} {escape(n.name or "")} {escape(badge)}{escape(_under(n))}</title>'
            f'<rect width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text class="ip" x="10" y="20">{label}</text>'
            f'<text class="name" x="10" y="38">{name}</text>'
            + (f'<text class="badge" x="{NODE_W - 8}" y="38" text-anchor="end">{escape(badge)}</text>' if badge else "")
            + "</g></a>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def _badge(n: Node) -> str:
    parts = []
    open_ = n.state.get("active", 0) + n.state.get("acknowledged", 0)
    if open_:
        parts.append(f"{open_} open")
    if n.state.get("suppressed"):
        parts.append(f"{n.state['suppressed']} supp")
    return " · ".join(parts)


def _under(n: Node) -> str:
    roots = [f"{info.get('name') or ''} {ip}".strip() for ip, info in sorted(n.under.items())]
    return f" — suppressed under {', '.join(roots)}" if roots else ""


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def as_json(nodes: list[Node]) -> list[dict[str, Any]]:
    return [{"device": n.key, "name": n.name, "subnet": n.subnet, "upstreams": n.parents, "layer": n.layer,
             "worst_severity": n.worst, "open": n.state.get("active", 0) + n.state.get("acknowledged", 0),
             "suppressed": n.state.get("suppressed", 0), "suppressed_under": sorted(n.under),
             "suppression_path_upstreams": sorted(n.path_parents)} for n in nodes]
