"""A collector that was stopped while the topic's log moved on says so when it resumes: offsets
retention deleted before the tap read them are named, counted and kept as an ingest error; a
topic deleted and created again (its offsets restarted) is told apart. Both on the real broker,
through the real `collect`."""

from __future__ import annotations

import signal
import subprocess
import time
import uuid

import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import NewTopic

from collectors.kafka.config import KafkaSettings
from collectors.store import Store
from tests.collectors.kafka.conftest import committed, events, wait_for
from tests.support.processes import interrupt, seamwatch

pytestmark = pytest.mark.kafka


def _collect(bootstrap: str, db: str, topic: str, group: str, *more: str) -> subprocess.Popen:
    """`seamwatch collect` tapping ``topic`` as ``group`` into ``db``, its output piped."""
    return subprocess.Popen(seamwatch("collect", "--db", str(db), "--bootstrap", bootstrap, "--cluster", "gaps",
                                      "--topic", topic, "--tap-group", group, *more),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _until_committed(proc: subprocess.Popen, bootstrap: str, group: str, topic: str, offset: int, *,
                     timeout: float = 60, what: str = "") -> None:
    """Until the tap's group commit is exactly ``offset`` (the tap commits after the store has the
    batch; the broker may keep a deleted topic's old commit), or the collector ended."""
    wait_for(lambda: proc.poll() is not None or committed(bootstrap, group, topic) == offset, timeout=timeout,
             interval=0.3, what=what or f"the tap up to offset {offset}")


def _collect_until(bootstrap: str, db: str, topic: str, group: str, offset: int, *first: str) -> str:
    """Run `seamwatch collect` on the topic until the tap has stored it up to ``offset``; its output."""
    proc = _collect(bootstrap, db, topic, group, "--poll-interval", "1", *first)
    try:
        _until_committed(proc, bootstrap, group, topic, offset)
        time.sleep(1.5)  # the resumed positions are checked on a thread of their own
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    return out


def _stored(db: str, topic: str) -> tuple[list[int], list[tuple[str, str]]]:
    with Store(str(db)) as store:
        con = store.cursor()
        offsets = [r[0] for r in con.execute('SELECT "offset" FROM records WHERE topic = ? ORDER BY "offset"',
                                              [topic]).fetchall()]
        errors = con.execute("SELECT location, reason FROM ingest_errors WHERE location LIKE ? || '/%'",
                             [topic]).fetchall()
    return offsets, errors


def test_offsets_deleted_while_the_collector_was_away_are_named_and_counted(bootstrap, admin, topic_factory,
                                                                             produce, store_location) -> None:
    topic = topic_factory("gaps-retention")
    group = f"gaps-{uuid.uuid4().hex[:6]}"
    db = store_location
    produce(topic, events("a", 30))
    first = _collect_until(bootstrap, db, topic, group, 30, "--from-beginning")
    assert f"{topic}/0: " not in first, first  # nothing to say on a first run
    # while the collector is away: 30 more records, and retention deletes up to offset 45
    produce(topic, events("b", 30))
    for fut in admin.delete_records([TopicPartition(topic, 0, 45)]).values():
        fut.result()
    produce(topic, events("c", 5))
    out = _collect_until(bootstrap, db, topic, group, 65)

    said = [line for line in out.splitlines() if f"{topic}/0: " in line]
    assert len(said) == 1, out
    assert "offsets 30–44 (15 records" in said[0] and "reading on from offset 45" in said[0], said
    offsets, errors = _stored(db, topic)
    assert offsets == [*range(30), *range(45, 65)]  # nothing else lost, nothing read twice
    assert [loc for loc, _ in errors] == [f"{topic}/0/30"] and "not in the store" in errors[0][1], errors


def _recreated(bootstrap: str, admin, produce, db: str, name: str, new: int, *more: int) -> list[str]:
    """20 records tapped, the topic deleted and created again with ``new`` records, tapped; then for
    each of ``more``, that many records more, tapped in a session of its own. Each session's output."""
    topic = f"gaps-{name}"
    group = f"gaps-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    try:
        produce(topic, events("old", 20))
        _collect_until(bootstrap, db, topic, group, 20, "--from-beginning")
        admin.delete_topics([topic])[topic].result()
        wait_for(lambda: _create(admin, topic), timeout=30, interval=0.5, what="the topic created again")
        produce(topic, events("new", new))
        outs = [_collect_until(bootstrap, db, topic, group, new)]
        for n in more:
            produce(topic, events("new-more", n))
            new += n
            outs.append(_collect_until(bootstrap, db, topic, group, new))
    finally:
        admin.delete_topics([topic])
    return outs


def test_a_topic_created_again_is_told_from_deleted_records(bootstrap, admin, produce, store_location) -> None:
    topic = f"gaps-recreated-{uuid.uuid4().hex[:6]}"
    (out,) = _recreated(bootstrap, admin, produce, store_location, topic.removeprefix("gaps-"), 5)
    said = [line for line in out.splitlines() if f"{topic}/0: " in line]
    assert len(said) == 1 and "created again (its topic id changed)" in said[0], out
    assert "stopped at offset 20 of the old one" in said[0], said
    offsets, errors = _stored(store_location, topic)
    assert offsets == sorted([*range(5), *range(20)])  # the new topic's records beside the old ones'
    assert [loc for loc, _ in errors] == [f"{topic}/0/20"], errors
    _assert_one_generation_between(store_location, topic)


def _assert_one_generation_between(db: str, topic: str) -> None:
    """The tap wrote the new topic's generation: its id, beginning after the old topic's records
    and no later than the new one's, so the analyses tell offset 0 of each apart."""
    with Store(str(db)) as store:
        con = store.cursor()
        rows = con.execute("SELECT topic_id, since FROM topic_generations WHERE topic = ?", [topic]).fetchall()
        old_last, new_first = con.execute(
            "SELECT max(tapped_at) FILTER (WHERE value_excerpt LIKE '%old%'), "
            "min(least(\"timestamp\", tapped_at)) FILTER (WHERE value_excerpt LIKE '%new%') FROM records WHERE topic = ?",
            [topic]).fetchone()
        # (a lake keeps the old topic's positions too: the id written last)
        stored_id = con.execute("SELECT topic_id FROM tap_positions WHERE topic = ? ORDER BY updated_at DESC LIMIT 1",
                                [topic]).fetchall()
    assert len(rows) == 1, rows
    assert [(rows[0][0],)] == stored_id  # the id the tap resumes the new topic by
    assert old_last < rows[0][1] <= new_first, (old_last, rows, new_first)


def test_a_topic_created_again_with_more_records_than_the_tap_had_read_is_read_whole(bootstrap, admin, produce,
                                                                                      store_location) -> None:
    """The new topic already holds more records than the old one's stored position: the watermarks
    cannot tell (the position lies inside the new log), only the topic's id. Resumed at the old
    position, the tap stored offsets 20-59 of the new topic and lost 0-19 without a word."""
    topic = f"gaps-regrown-{uuid.uuid4().hex[:6]}"
    # the next session goes on from the new topic's position, without a word
    out, again = _recreated(bootstrap, admin, produce, store_location, topic.removeprefix("gaps-"), 60, 5)
    said = [line for line in out.splitlines() if f"{topic}/0: " in line]
    assert len(said) == 1 and "created again (its topic id changed)" in said[0], out
    assert f"{topic}/0: " not in again, again
    with Store(store_location) as store:
        new = store.cursor().execute("SELECT count(*), min(\"offset\"), max(\"offset\") FROM records WHERE topic = ? "
                                     "AND value_excerpt LIKE '%new%'", [topic]).fetchone()
    assert new == (65, 0, 64)  # every record of the new topic, each once
    _assert_one_generation_between(store_location, topic)  # once, though read in two sessions
    offsets, errors = _stored(store_location, topic)
    assert offsets == sorted([*range(65), *range(20)])
    assert [loc for loc, _ in errors] == [f"{topic}/0/20"], errors


@pytest.mark.parametrize("new", [5, 25], ids=["fewer-records", "as-many-records"])
def test_a_topic_created_again_while_the_collector_runs_is_read_whole_as_a_new_generation(
        bootstrap, admin, produce, store_location, new) -> None:
    """Deleted and created again while `collect` runs, faster than the tap looks for topics. With
    fewer records than the tap had read (5 of 20), its position lies past the new topic's end and
    the broker refuses it. With as many or more (25), nothing fails: the tap read on at offset 20
    of the new topic and never read its first 20 records. Either way the tap now asks the topic's
    id, reads the new topic from its start and writes its generation; the next session resumes it
    where it stopped instead of reading it again."""
    topic = f"gaps-live-{uuid.uuid4().hex[:6]}"
    group = f"gaps-{uuid.uuid4().hex[:6]}"
    db = store_location
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    try:
        produce(topic, events("old", 20))
        proc = _collect(bootstrap, db, topic, group, "--from-beginning")
        try:
            _until_committed(proc, bootstrap, group, topic, 20)
            admin.delete_topics([topic])[topic].result()
            wait_for(lambda: _create(admin, topic), timeout=30, interval=0.5, what="the topic created again")
            produce(topic, events("new", new))
            _until_committed(proc, bootstrap, group, topic, new, timeout=90)
            # it may have read on at the old position: the next look for topics asks the id
            time.sleep(2 * KafkaSettings.topic_refresh)
            _until_committed(proc, bootstrap, group, topic, new, what="the new topic read again from its start")
        finally:
            out = interrupt(proc, timeout=60)
        assert proc.returncode == 0, out
        said = [line for line in out.splitlines() if "deleted and created again while the tap ran" in line]
        assert len(said) == 1 and topic in said[0], out
        produce(topic, events("later", 3))
        _collect_until(bootstrap, db, topic, group, new + 3)
    finally:
        admin.delete_topics([topic])
    with Store(str(db)) as store:
        rows = store.cursor().execute(
            "SELECT regexp_extract(value_excerpt, '(old|new|later)'), \"offset\", count(*) FROM records "
            "WHERE topic = ? GROUP BY ALL ORDER BY 1, 2", [topic]).fetchall()
    by_kind = {kind: [(o, n) for k, o, n in rows if k == kind] for kind in ("old", "new", "later")}
    assert by_kind["old"] == [(o, 1) for o in range(20)]
    assert by_kind["later"] == [(o, 1) for o in range(new, new + 3)]  # resumed, not read again
    # every record of the new topic; those the tap read at the old position before it asked the
    # topic's id (offsets 20 on, within one look for topics) may be stored twice, none lost
    assert [o for o, _ in by_kind["new"]] == list(range(new))
    assert all(n == 1 or o >= 20 for o, n in by_kind["new"]), by_kind["new"]
    _assert_one_generation_between(db, topic)


def _create(admin, topic: str) -> bool:
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    except Exception:  # noqa: BLE001 (the deletion is still under way)
        return False
    return True


def test_offsets_deleted_while_the_collector_runs_behind_are_named_and_counted(bootstrap, admin, topic_factory,
                                                                                produce, store_location) -> None:
    """The tap slower than retention, in a running session: the collector is frozen (SIGSTOP, its
    librdkafka threads too, so nothing is prefetched) while 30 records arrive and retention deletes
    up to offset 45. Resumed, it reads on from 45 and says what was lost, once, in the same words.
    On a DuckDB file the tap assigns partitions itself; on a lake a consumer group gives them."""
    topic = topic_factory("gaps-running")
    group = f"gaps-{uuid.uuid4().hex[:6]}"
    db = store_location
    produce(topic, events("a", 30))
    proc = _collect(bootstrap, db, topic, group, "--from-beginning")
    try:
        _until_committed(proc, bootstrap, group, topic, 30)
        proc.send_signal(signal.SIGSTOP)
        try:
            # the fetch it had sent (a long poll, fetch.wait.max.ms 500) is answered empty meanwhile:
            # otherwise its answer would carry the new records, read before retention deleted them
            time.sleep(1.5)
            produce(topic, events("b", 30))
            for fut in admin.delete_records([TopicPartition(topic, 0, 45)]).values():
                fut.result()
            produce(topic, events("c", 5))
        finally:
            proc.send_signal(signal.SIGCONT)
        _until_committed(proc, bootstrap, group, topic, 65)
        time.sleep(1.5)  # the partition's start is asked on a thread of its own
    finally:
        out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out

    said = [line for line in out.splitlines() if f"{topic}/0: " in line]
    assert len(said) == 1, out
    assert "offsets 30–44 (15 records" in said[0] and "reading on from offset 45" in said[0], said
    offsets, errors = _stored(db, topic)
    assert offsets == [*range(30), *range(45, 65)]
    assert [loc for loc, _ in errors] == [f"{topic}/0/30"] and "not in the store" in errors[0][1], errors
