"""The OpenAPI 3.1 document of /api/v1, written by hand to say exactly what the routes do.

tests/web/test_web_property.py generates requests from it (schemathesis) and checks the
answers against it: status codes, content types and bodies.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .errors import CODES
from .queries import MAX_LIMIT, SEVERITIES, STATUSES

NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
OBJ = {"type": "object"}

_ERROR_TEXT = {400: "Bad request", 401: "No or unknown token", 403: "The token's role is not enough",
               404: "Not found", 409: "The transition is not allowed", 413: "Body too large",
               503: "Database or engine unavailable"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(ok: int, schema: dict[str, Any], *errors: int, description: str = "OK") -> dict[str, Any]:
    out = {str(ok): _json(schema, description)}
    for status in errors:
        out[str(status)] = {"$ref": f"#/components/responses/E{status}"}
    return out


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


FILTERS = [
    _query("status", f"Comma-separated: {', '.join(STATUSES)}, or 'open' (all but resolved)"),
    _query("severity", f"Comma-separated: {', '.join(SEVERITIES)}"),
    _query("category", "Exact category, e.g. network, power, video"),
    _query("source_system", "Exact source system (connector type), e.g. prtg, snmp_trap"),
    _query("device_ip", "Exact device IP"),
    _query("q", "Text contained in title, message or device name (case-insensitive)"),
]
READ: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]  # public or viewer, by configuration
WRITE: list[dict[str, list[str]]] = [{"bearerAuth": []}]
NOTE_BODY = {"required": False, "content": {"application/json": {"schema": _ref("Note")}}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message", "details"],
        "properties": {"code": {"type": "string", "enum": sorted(set(CODES.values()))},
                       "message": {"type": "string"}, "details": OBJ}}}},
    "AlertSummary": {"type": "object", "required": ["id", "severity", "status", "title", "received_at"],
                     "properties": {
                         "id": {"type": "string", "format": "uuid"},
                         "severity": {"type": "string", "enum": list(SEVERITIES)},
                         "status": {"type": "string", "enum": list(STATUSES)},
                         "title": {"type": "string"}, "device_name": NULLABLE_STR, "device_ip": NULLABLE_STR,
                         "source_system": {"type": "string"}, "category": {"type": "string"},
                         "alert_type": {"type": "string"}, "connector": NULLABLE_STR,
                         "occurred_at": {"type": "string", "format": "date-time"},
                         "received_at": {"type": "string", "format": "date-time"},
                         "last_occurrence_at": NULLABLE_TIME, "occurrence_count": {"type": ["integer", "null"]},
                         "correlated_to_id": NULLABLE_STR, "acknowledged_by": NULLABLE_STR,
                         "resolved_at": NULLABLE_TIME}},
    "AlertPage": {"type": "object", "required": ["items", "next_cursor"], "properties": {
        "items": {"type": "array", "items": _ref("AlertSummary")},
        "next_cursor": {"type": ["string", "null"], "description": "Pass as `cursor` for the next page"}}},
    "AlertDetail": {"type": "object", "required": ["alert", "history", "decisions", "notifications", "correlation"],
                    "properties": {
                        "alert": OBJ,
                        "history": {"type": "array", "items": OBJ, "description": "alert_history, in order; `text` as `opsc explain` says it"},
                        "decisions": {"type": "array", "items": OBJ, "description": "the rule trail; each row's `text` is the sentence `opsc explain` prints"},
                        "notifications": {"type": "array", "items": OBJ},
                        "correlation": {"type": "object", "required": ["root", "children", "children_total"],
                                        "properties": {"root": {"oneOf": [_ref("AlertSummary"), {"type": "null"}]},
                                                       "rule": NULLABLE_STR,
                                                       "children": {"type": "array", "items": _ref("AlertSummary")},
                                                       "children_total": {"type": "integer"}}}}},
    "Note": {"type": "object", "additionalProperties": False,
             "properties": {"note": {"type": ["string", "null"], "maxLength": 2000}}},
    "Transition": {"type": "object", "required": ["alert_id", "action", "old_status", "new_status", "by"],
                   "properties": {"alert_id": {"type": "string"}, "action": {"type": "string"},
                                  "old_status": {"type": "string"}, "new_status": {"type": "string"},
                                  "by": {"type": "string"}}},
    "Dependencies": {"type": "object", "required": ["dependencies", "devices"], "properties": {
        "dependencies": {"type": "array", "items": OBJ}, "devices": {"type": "array", "items": OBJ}}},
    "Connectors": {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": {
        "type": "object", "required": ["name", "type", "enabled", "status"],
        "properties": {"name": {"type": "string"}, "type": {"type": "string"}, "enabled": {"type": "boolean"},
                       "status": {"type": "string"}, "error_message": NULLABLE_STR,
                       "last_poll_at": NULLABLE_TIME, "last_success_at": NULLABLE_TIME,
                       "alerts_received": {"type": "integer"}, "alerts_today": {"type": "integer"}}}}}},
    "Config": {"type": "object", "required": ["current", "last_attempt", "rules", "engine_running"], "properties": {
        "current": {"type": ["object", "null"]}, "last_attempt": {"type": ["object", "null"]},
        "rules": {"type": "array", "items": {"type": "object", "required": ["name", "hits"],
                                              "properties": {"name": {"type": "string"},
                                                             "hits": {"type": "integer"}}}},
        "engine_running": {"type": "boolean"}}},
    "Health": {"type": "object", "required": ["status", "database", "reasons"], "properties": {
        "status": {"type": "string", "enum": ["ok", "degraded", "failing"]}, "database": {"type": "string"},
        "engine": OBJ, "reasons": {"type": "array", "items": {"type": "string"},
                                   "description": "Why it is degraded or failing; empty when ok"}}},
}

PATHS: dict[str, Any] = {
    "/api/v1/alerts": {"get": {
        "operationId": "listAlerts", "summary": "Alerts, newest first (keyset pagination)", "security": READ,
        "parameters": FILTERS + [_query("cursor", "next_cursor of the previous page"),
                                 _query("limit", f"Page size, 1 to {MAX_LIMIT} (default 50)",
                                        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT})],
        "responses": _responses(200, _ref("AlertPage"), 400, 401, 403, 503)}},
    "/api/v1/alerts/{alert_id}": {"get": {
        "operationId": "getAlert", "summary": "One alert with history, rule trail, notifications, correlation",
        "security": READ, "parameters": [_path("alert_id", "Alert UUID")],
        "responses": _responses(200, _ref("AlertDetail"), 401, 403, 404, 503)}},
    "/api/v1/alerts/{alert_id}/acknowledge": {"post": {
        "operationId": "acknowledgeAlert", "summary": "active → acknowledged (operator)", "security": WRITE,
        "parameters": [_path("alert_id", "Alert UUID")], "requestBody": NOTE_BODY,
        "responses": _responses(200, _ref("Transition"), 400, 401, 403, 404, 409, 413, 503)}},
    "/api/v1/alerts/{alert_id}/resolve": {"post": {
        "operationId": "resolveAlert", "summary": "open → resolved (operator)", "security": WRITE,
        "parameters": [_path("alert_id", "Alert UUID")], "requestBody": NOTE_BODY,
        "responses": _responses(200, _ref("Transition"), 400, 401, 403, 404, 409, 413, 503)}},
    "/api/v1/silences": {
        "get": {"operationId": "listSilences", "summary": "Silences (rules/ and ad hoc): active, upcoming, recurring,"
                " recently ended; each with what it holds now and where it is defined", "security": READ,
                "responses": _responses(200, OBJ, 401, 403, 503)},
        "post": {"operationId": "createSilence", "summary": "An ad-hoc silence (operator): matchers as in a rule's"
                 " match, duration or ends_at (at most 31 days), optional starts_at, comment; a command the engine"
                 " applies, answered once stored", "security": WRITE,
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["matchers", "comment"], "additionalProperties": False,
                     "properties": {"matchers": OBJ, "duration": {"type": "string", "examples": ["2h"]},
                                    "starts_at": {"type": "string", "format": "date-time"},
                                    "ends_at": {"type": "string", "format": "date-time"},
                                    "comment": {"type": "string"}}}}}},
                 "responses": _responses(201, OBJ, 400, 401, 403, 413, 503, description="Created")}},
    "/api/v1/silences/{silence_id}": {"delete": {
        "operationId": "endSilence", "summary": "End an ad-hoc silence now (operator): a command the engine applies;"
                    " 409 when it has ended already", "security": WRITE,
        "parameters": [_path("silence_id", "The ad-hoc silence's number (adhoc-N)")],
        "responses": _responses(200, OBJ, 401, 403, 404, 409, 503)}},
    "/api/v1/dependencies": {"get": {
        "operationId": "getDependencies", "summary": "Dependency edges and devices with their worst open alert",
        "security": READ, "responses": _responses(200, _ref("Dependencies"), 401, 403, 503)}},
    "/api/v1/connectors": {"get": {
        "operationId": "listConnectors", "summary": "Connector runtime status (never their config)",
        "security": READ, "responses": _responses(200, _ref("Connectors"), 401, 403, 503)}},
    "/api/v1/config": {"get": {
        "operationId": "getConfig", "summary": "Running config version, last attempt, rules with hit counts",
        "security": READ, "responses": _responses(200, _ref("Config"), 401, 403, 503)}},
    "/api/v1/config/reload": {"post": {
        "operationId": "reloadConfig", "summary": "Reload the config tree (admin)", "security": WRITE,
        "responses": _responses(200, OBJ, 401, 403, 413, 503, description="The reload's outcome")}},
    "/api/v1/sync": {"post": {
        "operationId": "gitSync", "summary": "GitOps push webhook (HMAC signature or admin token): apply or refuse",
        "security": [{}, {"bearer": []}],
        "parameters": [_query("force", "Admin only: apply even an older commit", {"type": "boolean"})],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {}}}},
        "responses": {**_responses(200, OBJ, 400, 401, 403, 404, 413, 503, description="Applied or unchanged"),
                      "202": _json(OBJ, "Ignored (a push to another ref)"),
                      "422": _json(OBJ, "Refused, with every file:line error")}}},
    "/api/v1/config/rollback": {"post": {
        "operationId": "rollbackConfig", "summary": "Re-apply the previously applied commit (admin)", "security": WRITE,
        "responses": {**_responses(200, OBJ, 401, 403, 404, 413, 503, description="Applied"),
                      "422": _json(OBJ, "Refused")}}},
    "/api/v1/events/{connector}": {"post": {
        "operationId": "ingestEvent", "summary": "Inbound webhook for a webhook connector; auth per connector",
        "security": [{}], "parameters": [_path("connector", "Connector name (connectors.d)")],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {}}}},
        "responses": _responses(202, OBJ, 400, 401, 404, 413, 503, description="Accepted for processing")}},
    "/api/v1/stream": {"get": {
        "operationId": "streamAlerts", "summary": "Server-sent events: `alerts` with {items, gone, counts}; `resync` when news may have been lost",
        "security": READ, "parameters": FILTERS,
        "responses": {"200": {"description": "An event stream", "content": {"text/event-stream": {
            "schema": {"type": "string"}}}}, "400": {"$ref": "#/components/responses/E400"},
            "401": {"$ref": "#/components/responses/E401"}, "403": {"$ref": "#/components/responses/E403"},
            "503": {"$ref": "#/components/responses/E503"}}}},
    "/api/v1/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document", "security": [{}],
        "responses": {"200": _json(OBJ, "OpenAPI 3.1")}}},
    "/healthz": {"get": {
        "operationId": "health", "summary": "Database ping and engine health, within 1 s, with the reasons",
        "security": [{}],
        "responses": {"200": _json(_ref("Health"), "Healthy or degraded"),
                      "503": _json(_ref("Health"), "Failing: the engine's worker is dead, or (without an engine) "
                                                   "the database does not answer")}}},
    "/metrics": {"get": {
        "operationId": "metrics", "summary": "Prometheus text: HTTP side, then the engine's", "security": READ,
        "responses": {"200": {"description": "Prometheus exposition format",
                              "content": {"text/plain": {"schema": {"type": "string"}}}},
                      "401": {"$ref": "#/components/responses/E401"},
                      "403": {"$ref": "#/components/responses/E403"}}}},
}


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "OpsConductor API", "version": "1",
                 "description": "Alerts, topology, connectors and config of OpsConductor. Every error has the "
                                "envelope {\"error\": {\"code\", \"message\", \"details\"}}."},
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A token from the config (viewer, operator, admin) "
                                                              "or OPSC_ADMIN_TOKEN"}},
            "responses": {f"E{s}": _json(_ref("Error"), text) for s, text in _ERROR_TEXT.items()},
        },
    }


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(document())


ROUTES = [Route("/api/v1/openapi.json", openapi_json, methods=["GET"])]
