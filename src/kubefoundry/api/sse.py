"""Server-sent events, framed by hand on Starlette's ``StreamingResponse``.

``event`` writes one event in the ``text/event-stream`` wire format (its JSON data on one
``data:`` line, since JSON never needs a raw newline); ``with_keepalive`` puts a comment line
into any async stream of events that goes quiet, so proxies and browsers keep an idle
connection open (and a client that went away is noticed at the next write); ``response``
wraps a stream with the headers that keep proxies from buffering it. Browsers read the
stream with ``EventSource`` and ``addEventListener(name, ...)``.

Our own few lines rather than a dependency: ``sse-starlette`` is not one of ours, and
FastAPI's built-in SSE needs a newer FastAPI than ``pyproject.toml`` asks for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from starlette.responses import StreamingResponse

KEEPALIVE = ": keep-alive\n\n"
KEEPALIVE_S = 15.0
MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event(name: str, data: Any, *, id: str | int | None = None) -> str:
    """One event: ``event: NAME``, ``data: <JSON>``, then ``id:`` (sent back by a browser
    that reconnects, as ``Last-Event-ID``), ended by a blank line."""
    if not name or any(c in name for c in "\r\n:"):
        raise ValueError(f"an event name is one word, not {name!r}")
    lines = [f"event: {name}", "data: " + json.dumps(data, separators=(",", ":"))]
    if id is not None:
        lines.append(f"id: {id}")
    return "\n".join(lines) + "\n\n"


async def with_keepalive(
    events: AsyncIterable[str], *, every_s: float = KEEPALIVE_S
) -> AsyncIterator[str]:
    """``events`` as they come, with ``KEEPALIVE`` after every ``every_s`` of silence.

    The pending ``anext`` is waited on, never cancelled, between keep-alives: cancelling it
    would close the source generator halfway through an event."""
    source = aiter(events)
    pending: asyncio.Future[str] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=every_s)
            if not done:
                yield KEEPALIVE
                continue
            finished, pending = pending, None
            try:
                item = finished.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        if pending is not None:
            pending.cancel()


def response(events: AsyncIterable[str], *, every_s: float = KEEPALIVE_S) -> StreamingResponse:
    """A ``text/event-stream`` response of ``events``, kept alive."""
    return StreamingResponse(
        with_keepalive(events, every_s=every_s), media_type=MEDIA_TYPE, headers=HEADERS
    )
