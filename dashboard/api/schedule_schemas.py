"""API layer: the pydantic models of /schedules — a schedule to create, a schedule as stored with its next
fire time, and its recent tasks (the OpenAPI document's schemas are generated from these)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dashboard.api.schemas import Body, Model, UtcDateTime
from db.domain.states import TaskKind, TaskStatus


class ScheduleCreate(Body):
    """A recurring task: the template of each task, a trigger (`cron` or `interval_seconds`), the policies."""

    name: str = Field(min_length=1, max_length=200, description="unique; the CLI refers to it by name")
    title: str = Field(max_length=500)
    kind: TaskKind
    payload: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=20)
    priority: int = Field(0, ge=-1000, le=1000)
    timeout_seconds: float | None = Field(None, gt=0, le=10**9)
    max_attempts: int = Field(1, ge=1, le=100)
    cron: str | None = Field(None, max_length=200, description='crontab line, e.g. "*/5 * * * *"')
    interval_seconds: float | None = Field(None, ge=1, le=10**9)
    timezone: str = Field("UTC", max_length=64, description="IANA zone of the cron expression")
    catch_up: Literal["latest", "skip"] = Field(
        "latest", description="latest: run the latest missed time once"
    )
    concurrency: Literal["allow", "skip"] = Field(
        "allow", description="skip: no task while one is still live"
    )
    max_runs: int | None = Field(None, ge=1)
    end_at: UtcDateTime | None = None
    enabled: bool = True


class Schedule(Model):
    id: int
    name: str
    enabled: bool
    title: str
    kind: str
    payload: dict[str, Any]
    tags: list[str]
    priority: int
    timeout_seconds: float | None
    max_attempts: int
    cron: str | None
    interval_seconds: float | None
    timezone: str
    catch_up: str
    concurrency: str
    max_runs: int | None
    end_at: UtcDateTime | None
    runs: int = Field(description="tasks made so far")
    created_by: str
    enabled_at: UtcDateTime | None
    last_fire_at: UtcDateTime | None = Field(description="the latest fire time handled")
    next_fire_at: UtcDateTime | None = Field(description="when it fires next; null when paused or over")
    created_at: UtcDateTime
    updated_at: UtcDateTime


class ScheduleList(Model):
    items: list[Schedule]


class ScheduledRun(Model):
    task_id: int
    scheduled_for: UtcDateTime
    status: TaskStatus
    started_at: UtcDateTime | None
    completed_at: UtcDateTime | None


class ScheduleDetail(Schedule):
    recent_runs: list[ScheduledRun] = Field(description="its newest tasks, up to 20")
