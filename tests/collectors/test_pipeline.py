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


def test_at_depth_zero_nothing_waits_between_stages() -> None:
    """A hand-over: put() returns once the stage has taken the item, so a busy stage holds the
    producer back with no item queued (a memory budget's pipeline)."""
    release = threading.Event()
    taken: list[int] = []
    p = Pipeline("t", [("blocked", lambda x: (taken.append(x), release.wait()))], depth=0)
    p.put(0)
    assert taken == [0]  # returned only after the stage took it
    stuck = threading.Thread(target=p.put, args=(1,), daemon=True)
    stuck.start()
    stuck.join(0.2)
    assert stuck.is_alive()  # the stage is busy: the next item waits in the producer, not in a queue
    release.set()
    stuck.join(5)
    assert not stuck.is_alive()
    p.close()
    assert taken == [0, 1]
    assert p.failure is None


def test_a_stage_lets_go_of_an_item_before_waiting_for_the_next() -> None:
    """Under a memory budget a batch must not stay alive in a stage that waits for more."""
    import gc
    import weakref

    class Batch:
        pass

    refs: list[weakref.ref[Batch]] = []
    done = threading.Event()
    p = Pipeline("t", [("pass", lambda b: (refs.append(weakref.ref(b)), 1)[1]), ("write", lambda _: done.set())],
                 depth=0)
    p.put(Batch())
    assert done.wait(5)
    time.sleep(0.05)  # both stages are back waiting for their next item
    gc.collect()
    assert refs[0]() is None
    p.close()
