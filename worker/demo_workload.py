"""Worker layer: builds live demo workloads (a batch now, or a steady trickle) of `demo` tasks."""

from __future__ import annotations

import logging
import random
import threading

from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.read.tasks.detail import status_counts
from db.write.recorder import Recorder
from worker.simulation import CREATORS, GOALS, TAGS

log = logging.getLogger(__name__)


def demo_specs(rng: random.Random, count: int, speed: float) -> list[TaskSpec]:
    specs = []
    for _ in range(count):
        iterations = rng.randint(2, 5)
        specs.append(
            TaskSpec(
                title=rng.choice(GOALS),
                kind=TaskKind.DEMO,
                payload={"speed": speed, "seed": rng.randint(0, 2**31)},
                priority=rng.choice((0, 0, 0, 1, 5)),
                tags=tuple(rng.sample(TAGS, rng.randint(0, 2))),
                created_by=rng.choice(CREATORS),
                max_attempts=rng.choice((1, 1, 2)),
                max_iterations=iterations,
                # Hangs are part of the demo: a stuck agent ends as timed_out instead of running forever.
                timeout_seconds=round(120.0 / speed, 1),
            )
        )
    return specs


def trickle(recorder: Recorder, stop: threading.Event, speed: float, keep_active: int = 6) -> None:
    """Keep about `keep_active` demo tasks queued or running until `stop` is set."""
    rng = random.Random()
    while not stop.wait(rng.uniform(1.0, 4.0) / speed):
        try:
            with recorder.db.reading() as session:
                counts = status_counts(session)
            active = counts.get("queued", 0) + counts.get("running", 0)
            if active < keep_active:
                recorder.submit_many(demo_specs(rng, rng.randint(1, 2), speed), actor="demo")
        except Exception:
            log.warning("demo trickle could not submit", exc_info=True)
