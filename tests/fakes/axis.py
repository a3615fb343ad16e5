"""Fake Axis cameras (CONNECTOR_APIS.md §4), several behind one app, told apart by the Host
header: HTTP Digest auth (MD5, qop=auth; a wrong password answers 401 again), POST
/axis-cgi/basicdeviceinfo.cgi (JSON) and the ONVIF pull point on POST /vapix/services
(CreatePullPointSubscription → a SubscriptionReference address, PullMessages → one
`Initialized` NotificationMessage per stateful event, in the documented XML shape; Unsubscribe).

State: `username`, `password`, `cameras`: host → {"events": [(topic, source items, data items)],
"model"}; a host missing from `cameras` answers 404 everywhere. `soap_fault` makes the event
service answer a SOAP fault.
"""
from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any
from xml.sax.saxutils import quoteattr

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.scenario import Scenario

TAMPERING = "tns1:VideoSource/tnsaxis:Tampering"
SCENE = "tns1:VideoSource/GlobalSceneChange/ImagingService"
DISRUPTION = "tnsaxis:Storage/Disruption"
FAILURE = "tns1:Device/tnsaxis:HardwareFailure/StorageFailure"
REALM = "AXIS_ACCC8E012345"


def tampering(channel: int, on: bool = True) -> tuple:
    return (TAMPERING, {"channel": str(channel)}, {"tampering": "1" if on else "0"})


def storage(disk: str = "SD_DISK", on: bool = True, topic: str = DISRUPTION) -> tuple:
    return (topic, {"disk_id": disk}, {"disruption": "1" if on else "0"})


def _h(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - Digest MD5 is what the cameras speak


def _items(kind: str, items: dict) -> str:
    inner = "".join(f"<tt:SimpleItem Name={quoteattr(k)} Value={quoteattr(v)}/>" for k, v in items.items())
    return f"<tt:{kind}>{inner}</tt:{kind}>"


def _note(topic: str, source: dict, data: dict) -> str:
    return ('<wsnt:NotificationMessage><wsnt:Topic Dialect="http://docs.oasis-open.org/wsn/t-1/TopicExpression/Simple">'
            f"{topic}</wsnt:Topic><wsnt:Message>"
            '<tt:Message UtcTime="2025-06-03T10:15:12.345Z" PropertyOperation="Initialized">'
            f"{_items('Source', source)}<tt:Key/>{_items('Data', data)}</tt:Message></wsnt:Message>"
            "</wsnt:NotificationMessage>")


ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:tev="http://www.onvif.org/ver10/events/wsdl" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" '
            'xmlns:wsa5="http://www.w3.org/2005/08/addressing" xmlns:tt="http://www.onvif.org/ver10/schema" '
            'xmlns:tns1="http://www.onvif.org/ver10/topics" xmlns:tnsaxis="http://www.axis.com/2009/event/topics">'
            "<SOAP-ENV:Body>{}</SOAP-ENV:Body></SOAP-ENV:Envelope>")


class AxisFake:
    def __init__(self, scenario: Scenario):
        self.scenario = scenario
        self.nonces: set[str] = set()
        self.counter = itertools.count(1)
        self.subscriptions: dict[str, str] = {}  # id → host
        self.unsubscribed = 0
        self.app = Starlette(routes=[
            Route("/axis-cgi/basicdeviceinfo.cgi", self.info, methods=["POST"]),
            Route("/vapix/services", self.services, methods=["POST"]),
            Route("/vapix/services/pullpoint/{sub}", self.pullpoint, methods=["POST"]),
        ])

    def _challenge(self) -> Response:
        nonce = f"{next(self.counter):08x}c0ffee{next(self.counter):04x}"
        self.nonces.add(nonce)
        return Response("Unauthorized", status_code=401, headers={
            "WWW-Authenticate": f'Digest realm="{REALM}", nonce="{nonce}", algorithm=MD5, qop="auth"'})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Digest "):
            return False
        fields = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
        state = self.scenario.state
        if fields.get("username") != state["username"] or fields.get("nonce") not in self.nonces:
            return False
        ha1 = _h(f"{state['username']}:{REALM}:{state['password']}")
        ha2 = _h(f"{request.method}:{fields.get('uri')}")
        expected = _h(f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}")
        return fields.get("response") == expected

    async def _gate(self, request: Request) -> tuple[Response | None, dict | None]:
        fault = await self.scenario.intercept(request)
        if fault is not None:
            return fault, None
        camera = self.scenario.state.get("cameras", {}).get(request.url.hostname)
        if camera is None:
            return Response("Not found", status_code=404), None
        if not self._authorized(request):
            return self._challenge(), None
        return None, camera

    async def info(self, request: Request) -> Response:
        answer, camera = await self._gate(request)
        if answer is not None:
            return answer
        body = self.scenario.seen[-1].json or {}
        if body.get("method") not in ("getProperties", "getAllProperties"):
            return JSONResponse({"apiVersion": "1.0", "error": {"code": 2002, "message": "Method not supported"}})
        return JSONResponse({"apiVersion": "1.3", "context": body.get("context"), "data": {"propertyList": {
            "ProdNbr": camera.get("model", "P3265-LVE"), "ProdFullName": "AXIS P3265-LVE Dome Camera",
            "SerialNumber": "ACCC8E012345", "Version": "11.9.60"}}})

    def _soap(self, body: str, status: int = 200) -> Response:
        return Response(ENVELOPE.format(body), status_code=status, media_type="application/soap+xml")

    async def services(self, request: Request) -> Response:
        answer, camera = await self._gate(request)
        if answer is not None:
            return answer
        text = str(self.scenario.seen[-1].json or "")
        if self.scenario.state.get("soap_fault"):
            return self._soap("<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Receiver</SOAP-ENV:Value>"
                              "</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">Action not supported"
                              "</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>", status=400)
        if "CreatePullPointSubscription" not in text or "tnsaxis:Storage/Disruption" not in text:
            return self._soap("<SOAP-ENV:Fault><SOAP-ENV:Reason><SOAP-ENV:Text>unexpected</SOAP-ENV:Text>"
                              "</SOAP-ENV:Reason></SOAP-ENV:Fault>", status=400)
        sub = str(next(self.counter))
        self.subscriptions[sub] = request.url.hostname
        address = f"{request.url.scheme}://{request.url.netloc}/vapix/services/pullpoint/{sub}"
        return self._soap("<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>"
                          f"<wsa5:Address>{address}</wsa5:Address></tev:SubscriptionReference>"
                          "<wsnt:CurrentTime>2025-06-03T10:15:12Z</wsnt:CurrentTime>"
                          "<wsnt:TerminationTime>2025-06-03T10:16:12Z</wsnt:TerminationTime>"
                          "</tev:CreatePullPointSubscriptionResponse>")

    async def pullpoint(self, request: Request) -> Response:
        answer, camera = await self._gate(request)
        if answer is not None:
            return answer
        text = str(self.scenario.seen[-1].json or "")
        sub = request.path_params["sub"]
        if self.subscriptions.get(sub) != request.url.hostname:
            return self._soap("<SOAP-ENV:Fault><SOAP-ENV:Reason><SOAP-ENV:Text>unknown subscription</SOAP-ENV:Text>"
                              "</SOAP-ENV:Reason></SOAP-ENV:Fault>", status=400)
        if "Unsubscribe" in text:
            del self.subscriptions[sub]
            self.unsubscribed += 1
            return self._soap("<wsnt:UnsubscribeResponse/>")
        notes = "".join(_note(*e) for e in camera.get("events", []))
        return self._soap("<tev:PullMessagesResponse><tev:CurrentTime>2025-06-03T10:15:13Z</tev:CurrentTime>"
                          f"<tev:TerminationTime>2025-06-03T10:16:13Z</tev:TerminationTime>{notes}"
                          "</tev:PullMessagesResponse>")


def camera(*events: tuple, model: str = "P3265-LVE") -> dict[str, Any]:
    return {"events": list(events), "model": model}
