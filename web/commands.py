"""Operators' changes are commands to the engine, the only writer of alerts and silences:
the request puts one on the engine's queue and awaits the answer, given once the change is
committed. Without an engine (a read-only dashboard on the database) they are refused with
503 and the sentence the pages show instead of their forms."""
from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any, TypeVar

from starlette.requests import Request

from opsconductor.engine.errors import StoreError

from .errors import ApiError
from .settings import EngineView

T = TypeVar("T")
COMMAND_TIMEOUT_S = 30.0  # the engine answers once the change is committed: a batch, or a database outage
ENGINE_NOT_RUNNING = ("the engine is not running here: acknowledge, resolve and silences are applied by the engine"
                      " (opsc serve), and this server only reads the database")


def running_engine(request: Request, details: dict[str, Any]) -> EngineView:
    """The engine that applies a command, or 503 with the envelope."""
    engine: EngineView | None = request.app.state.engine
    if engine is None:
        raise ApiError(503, ENGINE_NOT_RUNNING, details)
    return engine


def read_only(request: Request) -> str | None:
    """Why the forms cannot act here (the pages show it in their place): no engine runs beside this server."""
    return ENGINE_NOT_RUNNING if request.app.state.engine is None else None


async def applied(future: Future[T], what: str, details: dict[str, Any]) -> T:
    """The engine's answer to a command; 503 when it does not come or cannot be stored."""
    try:  # shielded: a timeout here must not cancel what the engine will still apply
        return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), COMMAND_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise ApiError(503, f"the engine did not apply the {what} within {COMMAND_TIMEOUT_S:.0f} s"
                            " (is the database reachable?); it may still be applied", details) from None
    except StoreError as exc:
        raise ApiError(503, f"the engine could not store the {what}: {exc}", details) from None
