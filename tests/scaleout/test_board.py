"""The figures board (`scaleout/board.py`) without Ray: reports by deployment, stale ones dropped."""

from __future__ import annotations

import asyncio

import pytest

from darkroom.scaleout import board as board_module
from darkroom.scaleout.board import FiguresBoard, ReplicaReport
from darkroom.scheduling.figures import WorkerFigures


def test_reports_by_deployment_and_replica_and_stale_ones_are_dropped(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(board_module.time, "monotonic", lambda: now[0])

    async def scenario() -> tuple[dict, dict, dict]:
        board = FiguresBoard()
        await board.post("model-a", "r1", ReplicaReport(WorkerFigures(engine_calls=1), 4.0, 3, "node-1"))
        await board.post("model-a", "r2", ReplicaReport(WorkerFigures(engine_calls=2), 0.0, 1, "node-2"))
        await board.post("model-b", "r3", ReplicaReport(WorkerFigures(), 0.0, 1))
        both = await board.read("model-a")
        now[0] += board_module.STALE_SECONDS - 1
        await board.post("model-a", "r2", ReplicaReport(WorkerFigures(engine_calls=3), 0.0, 1, "node-2"))
        now[0] += 2  # r1 last posted STALE_SECONDS + 1 ago: its replica stopped
        fresh = await board.read("model-a")
        return both, fresh, await board.read("model-c")

    both, fresh, unknown = asyncio.run(scenario())
    assert sorted(both) == ["r1", "r2"] and both["r1"].work == 4.0 and both["r1"].node == "node-1"
    assert list(fresh) == ["r2"] and fresh["r2"].figures.engine_calls == 3
    assert unknown == {}


async def test_every_report_logs_a_failure_once_per_streak_and_keeps_going(monkeypatch, caplog):
    import logging

    monkeypatch.setattr(board_module, "REPORT_SECONDS", 0)
    outcomes = iter([RuntimeError("down"), RuntimeError("still down"), None, RuntimeError("down again"), None])
    calls = []

    async def exchange() -> None:
        calls.append(1)
        outcome = next(outcomes, StopAsyncIteration)
        if outcome is StopAsyncIteration:
            raise asyncio.CancelledError
        if outcome is not None:
            raise outcome

    with caplog.at_level(logging.WARNING), pytest.raises(asyncio.CancelledError):
        await board_module.every_report(exchange, "posting", logging.getLogger("test.board"))
    assert len(calls) == 6  # every failure was tried again
    assert [r.getMessage().split(" (")[1].split(")")[0] for r in caplog.records] == ["down", "down again"]
