"""Axis cameras through VAPIX (type `axis`, `mode: poll`), HTTP Digest auth, per target.

One poll asks every target (at most 8 at a time), each with its own Digest credentials:
1. reachability and identity: POST /axis-cgi/basicdeviceinfo.cgi
   {"apiVersion": "1.0", "method": "getProperties", ...} → data.propertyList. When the camera
   cannot be reached at all (connection refused, connect timeout, DNS: after the retries) the
   target has a `device_unreachable` problem. A camera that answers badly (5xx, HTML, a read
   timeout, 401) fails that target's check instead, and keeps its previous problems.
2. current event states: an ONVIF pull point on the event service (POST /vapix/services:
   CreatePullPointSubscription filtered to the tampering and storage topics, PullMessages,
   Unsubscribe). A new subscription replays every stateful event as `Initialized`, so the
   latest message per topic and source is the camera's current state: tampering=1,
   disruption=1 are problems; 0 clears them.

Targets fail independently: a failed target keeps its previous problems (nothing is cleared)
and the connector reports `degraded` naming it; when every target fails the poll fails.
`mode: stream` (the VAPIX WebSocket event stream) is not built: the pull point gives the same
states at each poll. The pull point is ONVIF-standard but not in our vendor notes: a camera that
refuses it shows as a failing target (see docs/connectors.md).
"""
from __future__ import annotations

import asyncio
import dataclasses
import warnings
import xml.etree.ElementTree as ET
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urlsplit

import httpx

from ...config.secrets import Secret
from ...errors import ConnectorError
from .. import http
from ..base import PollingConnector
from ..http import HttpFailure, HttpPolicy
from .normalizer import NS, TOPIC_FILTER, notifications

INFO_PATH = "/axis-cgi/basicdeviceinfo.cgi"
EVENTS_PATH = "/vapix/services"
CONCURRENCY = 8
INFO_REQUEST = {"apiVersion": "1.0", "context": "opsconductor", "method": "getProperties",
                "params": {"propertyList": ["ProdNbr", "ProdFullName", "SerialNumber", "Version"]}}
SOAP_TYPE = "application/soap+xml; charset=utf-8"
ACTION = "http://www.onvif.org/ver10/events/wsdl/"


def _envelope(body: str, to: str | None = None, action: str | None = None) -> str:
    header = ""
    if to or action:
        header = (f'<env:Header><wsa:Action>{action}</wsa:Action>' if action else "<env:Header>") + \
                 (f"<wsa:To>{to}</wsa:To>" if to else "") + "</env:Header>"
    return (f'<env:Envelope xmlns:env="{NS["env"]}" xmlns:tev="{NS["tev"]}" xmlns:wsnt="{NS["wsnt"]}" '
            f'xmlns:wsa="{NS["wsa"]}">{header}<env:Body>{body}</env:Body></env:Envelope>')


CREATE = _envelope(
    '<tev:CreatePullPointSubscription><tev:Filter><wsnt:TopicExpression '
    'Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet" '
    'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tnsaxis="http://www.axis.com/2009/event/topics">'
    f'{TOPIC_FILTER}</wsnt:TopicExpression></tev:Filter>'
    '<tev:InitialTerminationTime>PT60S</tev:InitialTerminationTime></tev:CreatePullPointSubscription>',
    action=ACTION + "EventPortType/CreatePullPointSubscriptionRequest")


@dataclasses.dataclass(frozen=True)
class Target:
    host: str
    name: str
    url: str
    username: str
    password: str


class AxisConnector(PollingConnector):
    type = "axis"

    def __init__(self, config, sink, **kwargs: Any):
        mode = config.settings.get("mode", "poll")
        if mode != "poll":
            raise ConnectorError(config.name, "mode 'stream' is not built; use mode: poll (it reports the same "
                                              "tampering and storage states at each poll)", field="mode")
        targets = config.settings.get("targets") or ()
        first = _url(targets[0]) if targets else "http://axis.invalid"
        super().__init__(dataclasses.replace(config, settings=MappingProxyType({**config.settings, "url": first})),
                         sink, **kwargs)
        self.config = config
        self._auth: dict[tuple, httpx.DigestAuth] = {}
        self._partial: list[str] = []

    def targets(self) -> list[Target]:
        out = []
        settings = self.config.settings
        for i, t in enumerate(settings.get("targets") or ()):
            username = t.get("username") or settings.get("username")
            if not username:
                raise self.bad(f"targets[{i}].username", "no username (set it on the target or the connector)")
            password = t.get("password") if t.get("password") is not None else settings.get("password")
            where = f"targets[{i}].password" if t.get("password") is not None else "password"
            if not isinstance(password, Secret):
                raise self.bad(where, "not configured (a secret reference such as ${env:AXIS_PASSWORD})")
            if not password.available:
                raise self.bad(where, f"{password.reference}: {password.problem}")
            out.append(Target(str(t["host"]), str(t.get("name") or t["host"]), _url(t), str(username), password.reveal()))
        names = [t.name for t in out]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise self.bad(f"targets[{i}].name", f"{name!r} is used by two targets (alerts are keyed by it)")
        return out

    def event(self, payload: Mapping[str, Any], source_address: str | None = None):
        host = (payload.get("item") or {}).get("host")
        return super().event(payload, host or source_address)

    def revision(self, item: Mapping) -> Any:
        return item.get("check")

    async def poll_once(self):
        self._partial = []
        events = await super().poll_once()
        if self._status == "ok" and self._partial:
            self._status = "degraded"
            self._error = self.mask(f"{self.name}: {len(self._partial)} camera(s) not checked, their alerts are "
                                    f"kept: {'; '.join(self._partial)[:1000]}")
        return events

    async def fetch(self, client: httpx.AsyncClient) -> dict[str, dict]:
        targets = self.targets()
        if not targets:
            return {}
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(target: Target):
            async with gate:
                try:
                    return await self._check(target)
                except ConnectorError as exc:
                    return exc

        results = await asyncio.gather(*(one(t) for t in targets))
        failures = [(t, r) for t, r in zip(targets, results) if isinstance(r, Exception)]
        if len(failures) == len(targets):
            raise failures[0][1]
        current: dict[str, dict] = {}
        for target, result in zip(targets, results):
            if isinstance(result, Exception):
                self._partial.append(f"{target.name}: {result}")
                current.update(self._previous(target.name))
            else:
                current.update(result)
        return current

    def _previous(self, name: str) -> dict[str, dict]:
        return {k: dict(v) for k, v in self.state.items() if v.get("name") == name}

    async def _check(self, target: Target) -> dict[str, dict]:
        policy = dataclasses.replace(self.http, base_url=target.url)
        key = (target.url, target.username, target.password)  # a changed password gets a fresh digest state
        auth = self._auth.get(key) or self._auth.setdefault(key, httpx.DigestAuth(target.username, target.password))
        base = {"host": target.host, "name": target.name}
        async with http.build_client(policy, transport=self.transport) as client:
            client.auth = auth
            try:
                info = await http.request_json(client, policy, "POST", INFO_PATH, json_body=INFO_REQUEST,
                                               what=f"{target.name}: POST {INFO_PATH}")
            except HttpFailure as exc:
                if exc.status is None and ("(connect timeout)" in str(exc) or "network error" in str(exc)):
                    kept = {k: v for k, v in self._previous(target.name).items() if v.get("check") != "unreachable"}
                    return {**kept, f"{target.name}/unreachable": {**base, "check": "unreachable", "error": str(exc)}}
                raise
            props = self._properties(info, target)
            items = await self._events(client, policy, target)
        return {key: {**base, **props, **item} for key, item in items.items()}

    def _properties(self, info: Any, target: Target) -> dict:
        where = f"{target.name}.basicdeviceinfo"
        data = http.need(self.http, info, "data", dict, where, required=False)
        if data is None:
            error = info.get("error") if isinstance(info, Mapping) else None
            raise self.bad(where, f"no data in the answer{f' (error {error})' if error else ''}")
        props = http.need(self.http, data, "propertyList", dict, f"{where}.data")
        for key in ("ProdNbr", "SerialNumber", "Version", "ProdFullName"):
            http.need(self.http, props, key, str, f"{where}.data.propertyList", required=False)
        return {"model": props.get("ProdNbr"), "serial": props.get("SerialNumber"), "firmware": props.get("Version")}

    async def _events(self, client: httpx.AsyncClient, policy: HttpPolicy, target: Target) -> dict[str, dict]:
        created = await self._soap(client, policy, EVENTS_PATH, CREATE, target, "CreatePullPointSubscription")
        address = created.findtext(".//tev:SubscriptionReference/wsa:Address", default="", namespaces=NS).strip()
        parts = urlsplit(address)
        if not address or not parts.path.startswith("/") or (parts.hostname and parts.hostname != urlsplit(target.url).hostname):
            raise self.bad(f"{target.name}.SubscriptionReference.Address", f"unusable pull point address {address[:80]!r}")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        pull = _envelope("<tev:PullMessages><tev:Timeout>PT1S</tev:Timeout><tev:MessageLimit>1000</tev:MessageLimit>"
                         "</tev:PullMessages>", to=address, action=ACTION + "PullPointSubscription/PullMessagesRequest")
        try:
            pulled = await self._soap(client, policy, path, pull, target, "PullMessages")
        finally:
            try:
                await self._soap(client, policy, path, _envelope("<wsnt:Unsubscribe/>", to=address,
                                 action="http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"),
                                 target, "Unsubscribe")
            except ConnectorError as exc:  # the subscription expires by itself after 60 s
                self.log.info("%s", self.mask(f"{self.name}: {target.name}: unsubscribe failed: {exc}"))
        latest: dict[str, dict] = {}
        for note in notifications(pulled):
            source = ",".join(v for _, v in sorted(note["source"].items()))
            latest[f"{target.name}/{note['check']}/{source}"] = note
        return {key: {k: v for k, v in note.items() if k != "on"} for key, note in latest.items() if note["on"]}

    async def _soap(self, client, policy: HttpPolicy, path: str, envelope: str, target: Target, what: str) -> ET.Element:
        with warnings.catch_warnings():  # raw bytes through `data`: http.request has no `content`
            warnings.simplefilter("ignore", DeprecationWarning)
            reply = await http.request(client, policy, "POST", path, data=envelope.encode(),
                                       headers={"Content-Type": SOAP_TYPE}, what=f"{target.name}: {what}")
        try:
            root = ET.fromstring(reply.body)
        except ET.ParseError as exc:
            snippet = " ".join(reply.body[:80].decode("utf-8", "replace").split())
            raise self.bad(f"{target.name}.{what}", f"expected SOAP XML, got something else ({exc}): {snippet!r}") from None
        fault = root.find(".//env:Fault", NS)
        if fault is not None:
            reason = " ".join("".join(fault.itertext()).split())[:160]
            raise self.bad(f"{target.name}.{what}", f"SOAP fault: {reason}")
        return root


def _url(target: Mapping[str, Any]) -> str:
    scheme = target.get("scheme") or "http"
    host = str(target["host"])
    host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    port = target.get("port")
    return f"{scheme}://{host}" + (f":{port}" if port else "")
