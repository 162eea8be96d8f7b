"""The collectors' thread pipeline: order kept, every item through, a failure never deadlocks."""

from __future__ import annotations

import threading
import time

import pytest

from collectors.pipeline import Pipeline


def test_items_pass_every_stage_in_order() -> None:
    seen: list[int] = []
    p = Pipeline("t", [("double", lambda x: x * 2), ("slow-collect", lambda x: (time.sleep(0.001), seen.append(x)))])
    for i in range(200):
        p.put(i)
    p.close()
    assert seen == [i * 2 for i in range(200)]
    assert p.failure is None


def test_a_failing_stage_stops_work_but_never_blocks_the_producer() -> None:
    written: list[int] = []

    def normalize(x: int) -> int:
        if x == 3:
            raise ValueError("bad batch")
        return x

    p = Pipeline("t", [("normalize", normalize), ("write", written.append)])
    done = threading.Event()

    def produce() -> None:
        for i in range(100):  # far more than the bounded queues hold
            p.put(i)
        p.close()
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    assert done.wait(10), "the producer blocked after a stage failed"
    assert isinstance(p.failure, ValueError)
    # after the failure no stage works: what was written is an in-order prefix of what came
    # before the failed item (an item already past the failing stage may be dropped too)
    assert written == [0, 1, 2][:len(written)]


def test_close_waits_for_the_last_item() -> None:
    written: list[int] = []
    p = Pipeline("t", [("write", lambda x: (time.sleep(0.05), written.append(x)))])
    p.put(1)
    p.close()
    assert written == [1]


@pytest.mark.parametrize("depth", [1, 3])
def test_queues_are_bounded(depth: int) -> None:
    release = threading.Event()
    p = Pipeline("t", [("blocked", lambda x: release.wait())], depth=depth)
    p.put(0)  # taken by the stage, which now waits
    time.sleep(0.05)
    for i in range(depth):
        p.put(i + 1)  # fills the queue
    stuck = threading.Thread(target=p.put, args=(99,), daemon=True)
    stuck.start()
    stuck.join(0.2)
    assert stuck.is_alive()  # a full queue holds the producer back: memory stays bounded
    release.set()
    stuck.join(5)
    p.close()
