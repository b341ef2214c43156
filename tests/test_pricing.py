"""Tests: the editable price table — loading and validation, and a worker inferring cost from it."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from config import Settings
from db.core.engine import Database
from db.domain.ops import TaskSpec
from db.domain.pricing import DEFAULT_PRICES, Price, PriceFileError, cost_of, load_prices
from db.domain.states import TaskKind
from db.read.tasks.detail import task_record
from db.write.recorder import Recorder
from worker.protocol import ProtocolState, parse_line
from worker.worker import Worker


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_load_merges_over_defaults(tmp_path: Path) -> None:
    prices = load_prices(
        write(
            tmp_path,
            {
                "my-model": {"provider": "acme", "input_per_1k": 1, "output_per_1k": 2},
                "gpt-4.1": {"input_per_1k": 0, "output_per_1k": 0},
            },
        )
    )
    assert cost_of("my-model", 1000, 500, prices=prices) == pytest.approx(2.0)
    assert cost_of("gpt-4.1", 1000, 1000, prices=prices) == 0.0  # replaced
    assert prices["claude-sonnet-4-5"] == DEFAULT_PRICES["claude-sonnet-4-5"]  # kept


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "JSON object"),
        ({"m": {"input_per_1k": 1}}, "output_per_1k"),
        ({"m": {"input_per_1k": "x", "output_per_1k": 1}}, "needs numbers"),
        ({"m": {"input_per_1k": -1, "output_per_1k": 1}}, "negative"),
    ],
)
def test_bad_files_are_clear_errors(tmp_path: Path, content: object, needle: str) -> None:
    with pytest.raises(PriceFileError, match=needle):
        load_prices(write(tmp_path, content))
    with pytest.raises(PriceFileError, match="cannot read"):
        load_prices(tmp_path / "missing.json")


def test_protocol_uses_the_run_prices() -> None:
    state = ProtocolState(prefix="p-", prices={"m": Price("x", 10, 0, 0)})
    [usage] = parse_line('{"event": "usage", "model": "m", "input_tokens": 100}', "stdout", state)
    assert usage.cost_usd == pytest.approx(1.0)  # type: ignore[union-attr]


def test_worker_infers_cost_from_the_file(db: Database, db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, {"house-model": {"input_per_1k": 2.0, "output_per_1k": 4.0}})
    settings = Settings(database_url=db_url, heartbeat_seconds=0.5, prices_file=str(path))
    recorder = Recorder(db)
    worker = Worker(settings, db, recorder, recorder.hub)
    worker.start()
    try:
        line = json.dumps(
            {"event": "usage", "model": "house-model", "input_tokens": 500, "output_tokens": 250}
        )
        task_id = recorder.submit(
            TaskSpec(
                title="priced",
                kind=TaskKind.COMMAND,
                payload={"command": [sys.executable, "-c", f"print({line!r})"]},
            )
        )
        deadline = time.monotonic() + 30
        while True:
            with db.reading() as s:
                task = task_record(s, task_id)
                assert task is not None
                if task.status == "completed":
                    break
            assert time.monotonic() < deadline, task.status
            time.sleep(0.05)
        assert task.cost_usd == pytest.approx(2.0)  # 0.5k in x $2 + 0.25k out x $4
    finally:
        worker.stop()
