"""The job engine: Dramatiq over Redis (docs/decisions.md, "The job engine").

A task's work is sent as steps (``analyse``, ``download``), each one message to one actor.
Dramatiq acknowledges a message only after the actor returns, and its Redis broker gives
the messages of a worker whose heartbeat stopped (a crash, a SIGKILL) back to the queue:
nothing a worker held is lost. The broker is built with Ferry's own middleware list:
Dramatiq's defaults include a 10-minute time limit that would kill a long download (the
task's own ``task_timeout`` applies instead), and an age limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import DramatiqError, Retry
from dramatiq.middleware import Retries
from redis.exceptions import RedisError

from ferry.errors import Hint, QueueUnavailable
from ferry.jobs import Jobs
from ferry.jobs.leases import Leases
from ferry.jobs.relay import Relay
from ferry.settings import Settings

log = logging.getLogger(__name__)

STEPS = ("analyse", "download")
ACTOR = "ferry_task_step"

# Out of a million broker commands, how many also look for dead workers' messages: a
# worker polls about twice a second, so with three workers a crash is noticed within a
# few seconds of its heartbeat timeout (Dramatiq's default, 1000, takes minutes).
_MAINTENANCE_CHANCE = 50_000


class Interrupted(Retry):
    """The worker is stopping, or lost the task's lease: the step goes back to the queue
    within a second (always, and logged as a retry, not an error)."""

    def __init__(self) -> None:
        super().__init__("the step goes back to the queue", delay=1000)


def _retry_when(retries: int, exc: BaseException) -> bool:
    # an infrastructure error (the database or Redis away) is worth a few tries; the
    # step's own failures never get here: they fail the task
    return isinstance(exc, Interrupted) or retries < 5


def queue_name(settings: Settings) -> str:
    return f"{settings.task_queue_prefix}-tasks"


def make_broker(settings: Settings, run: Callable[[str, str], None] | None = None) -> RedisBroker:
    """The broker, with the step actor declared on it: ``run(task_id, step)`` is what the
    actor does (a worker's); without it the actor only sends (an API replica)."""
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=settings.task_queue,
        namespace=f"{settings.task_queue_prefix}-dramatiq",
        heartbeat_timeout=int(settings.worker_heartbeat_timeout * 1000),
        maintenance_chance=_MAINTENANCE_CHANCE,
        middleware=[Retries(min_backoff=1000, max_backoff=30_000, retry_when=_retry_when)],
    )

    def step(task_id: str, step: str) -> None:
        if run is None:
            raise RuntimeError("this process only sends steps")
        if step not in STEPS:
            # a replica of another Ferry version, or a stranger with the Redis URL: no
            # retry will make it a step this worker knows, so it is dropped at once
            log.warning("task %s: no such step %r, message dropped", task_id, step)
            return
        run(task_id, step)

    dramatiq.actor(actor_name=ACTOR, queue_name=queue_name(settings), broker=broker)(step)
    return broker


def send(broker: RedisBroker, task_id: str, step: str) -> None:
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    broker.get_actor(ACTOR).send(task_id, step)


def queued_jobs(
    settings: Settings,
    relay: Relay,
    leases: Leases | None = None,
    broker: RedisBroker | None = None,
) -> Jobs:
    """What a TaskManager is given when its tasks go through the queue."""
    broker = broker or make_broker(settings)

    async def send_step(task_id: str, step: str) -> None:
        try:
            await asyncio.to_thread(send, broker, task_id, step)
        except (RedisError, DramatiqError) as exc:
            raise QueueUnavailable(
                params={"reason": str(exc)[:200] or type(exc).__name__}, hint=Hint("queue-retry")
            ) from exc

    return Jobs(send=send_step, stop=relay.stop, leases=leases)
