"""Requests as raw bytes, straight into the ASGI app: what an HTTP client library refuses to
send (non-ASCII headers, invalid UTF-8 in paths, NUL bytes) but a socket can."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable


async def _call(app, method: str, raw_path: bytes, query: bytes, headers: Iterable[tuple[bytes, bytes]],
                body: bytes) -> dict:
    from urllib.parse import unquote_to_bytes

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             # as uvicorn does: percent-decoded, then read as UTF-8 (latin-1 where it is not)
             "path": _path(unquote_to_bytes(raw_path)), "raw_path": raw_path, "query_string": query,
             "root_path": "", "headers": [(k.lower(), v) for k, v in headers],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080)}
    answer: dict = {"body": b""}
    delivered = False

    async def receive() -> dict:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"], answer["headers"] = message["status"], dict(message["headers"])
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer


def _path(decoded: bytes) -> str:
    try:
        return decoded.decode("utf-8")
    except UnicodeDecodeError:
        return decoded.decode("latin-1")


def raw(client, method: str, path: bytes, query: bytes = b"", headers=(), body: bytes = b"") -> dict:
    """{"status", "headers" (bytes → bytes), "body"} of one request to client.app."""
    return asyncio.run(_call(client.app, method, path, query, headers, body))
