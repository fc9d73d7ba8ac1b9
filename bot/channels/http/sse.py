"""Server-Sent Events of later replies: poll the services in a worker thread every few seconds and
send each reply as an `event: reply`, with a keep-alive comment while nothing happens.

The database holds what is due, so a stream served by any process sees every advisor answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import StreamingResponse

from bot.channels.http.conversation import Later, dumps, reply_json
from bot.services.outcomes import Notice

__all__ = ["StreamSettings", "event_stream", "stream_response"]

RETRY_MS = 3000  # how soon a browser's EventSource reconnects


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """How often a stream polls, how often it sends a keep-alive, and when it ends by itself."""

    poll_seconds: float = 2.0
    keepalive_seconds: float = 15.0
    max_seconds: float = 300.0  # clients reconnect; a bounded stream never blocks a shutdown


async def event_stream(
    request: Request,
    poll: Callable[[], Later],
    deliver: Callable[[tuple[Notice, ...]], Awaitable[None]],
    settings: StreamSettings,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> AsyncIterator[str]:
    """Yield the SSE lines of the replies `poll` returns until the client goes away."""
    started = last_sent = monotonic()
    stream = time.time_ns() // 1_000_000  # ids stay unique across reconnects
    count = 0
    yield f"retry: {RETRY_MS}\n: connected\n\n"
    while not await request.is_disconnected():
        replies, notices = await run_in_threadpool(poll)
        if notices:
            await deliver(notices)
        for reply in replies:
            count += 1
            yield f"id: {stream}-{count}\nevent: reply\ndata: {dumps(reply_json(reply))}\n\n"
            last_sent = monotonic()
        now = monotonic()
        if now - last_sent >= settings.keepalive_seconds:
            yield ": keep-alive\n\n"
            last_sent = now
        if now - started >= settings.max_seconds:
            return
        await asyncio.sleep(settings.poll_seconds)


def stream_response(events: AsyncIterator[str]) -> StreamingResponse:
    """Wrap an event stream in a `text/event-stream` response that proxies do not buffer."""
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
