"""Worker layer: reads a Celery broker's queue lengths on an open kombu connection (Redis: LLEN of the queue and
its priority lists in one pipeline; AMQP: a passive queue_declare per queue on its own channel, since a missing
queue closes the channel it was asked on)."""

from __future__ import annotations

import contextlib
from typing import Any

# Celery's priority steps on Redis: queue q is the lists q, q\x06\x163, q\x06\x166, q\x06\x169.
_PRIORITY_SEP = "\x06\x16"
_STEPS = (0, 3, 6, 9)


def queue_depths(conn: Any, names: list[str]) -> list[tuple[str, int | None]]:
    """(queue, messages waiting) for each name; None when the broker does not know the queue."""
    out: list[tuple[str, int | None]] = []
    if conn.transport.driver_type == "redis":
        client = conn.default_channel.client
        pipe = client.pipeline()
        for name in names:
            for step in _STEPS:
                pipe.llen(name if step == 0 else f"{name}{_PRIORITY_SEP}{step}")
        counts = pipe.execute()
        for i, name in enumerate(names):
            out.append((name, int(sum(counts[i * len(_STEPS) : (i + 1) * len(_STEPS)]))))
        return out
    for name in names:
        channel = conn.channel()
        try:
            _, messages, _ = channel.queue_declare(queue=name, passive=True)
            out.append((name, int(messages)))
        except conn.channel_errors:
            out.append((name, None))
        finally:
            with contextlib.suppress(Exception):  # a channel the broker already closed
                channel.close()
    return out
