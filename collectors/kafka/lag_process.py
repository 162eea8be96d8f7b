"""Lag snapshots taken in a child process, so that librdkafka failing there cannot end the collector.

librdkafka 2.16, which the newest confluent-kafka ships, can abort or crash when a broker's
connection drops while coordinator requests are in flight (confluentinc/librdkafka#5397).
Describing groups and reading their committed offsets are such requests, and on a cluster with
hundreds of groups they are in flight through most of a poll: a rolling restart of the brokers
killed the whole collector, the tap with it. The poller's Kafka clients (collectors/kafka/
lag_snapshot.py) therefore live in a spawned child process. A crash there fails that poll with
one line, as a broker away does, and the next poll starts another child. The child's log lines,
its own and librdkafka's, come back with each answer and are logged here.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from collectors.kafka.config import KafkaSettings
from collectors.kafka.lag_snapshot import OFFSETS_IN_FLIGHT, Rows, Snapshotter

STARTUP_TIMEOUT = 60.0  # the interpreter and its imports take about a second
# the child imports only what a snapshot needs (not the CLI, DuckDB or Arrow: about 30 MiB with
# librdkafka's buffers), from the modules this process uses (its sys.path)
_CHILD = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
          "from collectors.kafka.lag_process import child_main; child_main(int(sys.argv[2]))")
# a snapshot's requests each end within REQUEST_TIMEOUT; one that takes this long is stuck
ANSWER_TIMEOUT = 600.0


class SnapshotFailed(RuntimeError):
    """The snapshot failed in the child (its error's text: a broker away, a refused request)."""


class ClientGone(RuntimeError):
    """The child died or stopped answering; the next snapshot starts another."""


class Stopped(Exception):
    """The poller was asked to stop while the child worked."""


# What the collector logs of a child's line: its logger, level and message, and where and when it
# was logged in the child (a line re-logged by the collector would otherwise name this module)
_Line = tuple[str, int, str, str, int, str, float]


class _Lines(logging.Handler):
    """Keeps the child's log lines for the next answer."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[_Line] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, record.levelno, record.getMessage(), record.pathname, record.lineno,
                           record.funcName, record.created))

    def take(self) -> list[_Line]:
        out, self.lines = self.lines, []
        return out


def _relog(line: _Line) -> None:
    """A child's log line, logged by the collector as the child logged it."""
    name, level, message, path, lineno, func, created = line
    logger = logging.getLogger(name)
    if logger.isEnabledFor(level):
        record = logger.makeRecord(name, level, path, lineno, message, (), None, func)
        record.created, record.msecs = created, created % 1 * 1000
        logger.handle(record)


def child_main(fd: int) -> None:
    """The child: its settings and log level, then a snapshot for each request (its offsets in
    flight), until the parent closes its end or dies."""
    conn = Connection(fd)
    try:
        settings, level = conn.recv()
    except (EOFError, OSError):
        return
    lines = _Lines()
    root = logging.getLogger()
    root.handlers = [lines]
    root.setLevel(level)
    snapshots = Snapshotter(settings)
    conn.send("ready")
    while True:
        try:
            snapshots.offsets_in_flight = conn.recv()
        except (EOFError, OSError):
            return  # the parent closed the pipe, or died
        try:
            outcome: tuple[Any, ...] = ("ok", snapshots.snapshot())
        except Exception as exc:  # noqa: BLE001 (said to the parent, which fails its poll)
            outcome = ("failed", str(exc) or type(exc).__name__)
        snapshots.serve_logs()
        if outcome[0] == "failed":
            snapshots.reset()  # a fresh client after a failure
        try:
            conn.send((outcome, lines.take()))
        except (OSError, ValueError):
            return


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"died of {signal.Signals(-code).name}"
        except ValueError:
            return f"died of signal {-code}"
    return f"ended (exit code {code})"


class SnapshotProcess:
    """Snapshotter's interface, with the snapshots taken in a child process started on first use.

    Not multiprocessing's spawn: that runs the parent's main module again in the child (the CLI,
    DuckDB and Arrow: 93 MiB for a process that takes snapshots)."""

    def __init__(self, settings: KafkaSettings, stop: threading.Event, offsets_in_flight: int = OFFSETS_IN_FLIGHT,
                 answer_timeout: float = ANSWER_TIMEOUT) -> None:
        self.settings = settings
        self.offsets_in_flight = offsets_in_flight
        self.answer_timeout = answer_timeout
        self.children = 0  # started so far
        self._stop = stop
        self._process: Any = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def snapshot(self) -> Rows:
        conn = self._started()
        try:
            conn.send(self.offsets_in_flight)
            deadline = time.monotonic() + self.answer_timeout
            while not conn.poll(0.2):
                if self._stop.is_set():
                    self.close()
                    raise Stopped
                if self._process.poll() is not None:
                    conn.poll(0.2)  # an answer sent just before it ended still counts
                    break
                if time.monotonic() > deadline:
                    self.close()
                    raise ClientGone(f"the lag poller's Kafka client process gave no answer in "
                                     f"{self.answer_timeout:g} s and was stopped; another starts at the next poll")
            outcome, lines = conn.recv()
        except (EOFError, OSError):
            code = self._ended()
            raise ClientGone(f"the lag poller's Kafka client process {_death(code)}; "
                             f"another starts at the next poll") from None
        for line in lines:
            _relog(line)
        if outcome[0] == "failed":
            raise SnapshotFailed(outcome[1])
        return outcome[1]

    def reset(self) -> None:
        """After a failed poll: a child that ended is let go (one alive dropped its client already)."""
        if self._process is not None and self._process.poll() is not None:
            self._ended()

    def serve_logs(self) -> None:
        """The child's log lines come with its answers."""

    def close(self) -> None:
        if self._process is not None:
            self._ended(grace=2)  # a snapshot under way is cut short

    def _started(self) -> Connection:
        if self._process is not None:
            return self._conn
        mine, theirs = socket.socketpair()
        with theirs:
            # a session of its own: Ctrl+C reaches the collector, which stops the child when it stops polling
            self._process = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(sys.path), str(theirs.fileno())],
                                             pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
                                             start_new_session=True)
        self._conn = Connection(mine.detach())
        self.children += 1
        level = min(logging.getLogger("collectors").getEffectiveLevel(), logging.WARNING)
        try:
            self._conn.send((self.settings, level))
            ready = self._conn.poll(STARTUP_TIMEOUT) and self._conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.close()
            raise ClientGone(f"the lag poller's Kafka client process did not start within {STARTUP_TIMEOUT:g} s")
        return self._conn

    def _ended(self, grace: float = 5) -> int | None:
        """Let the child go (it ends at its next read once our end is closed; killed after ``grace``
        seconds); its exit code."""
        process, self._process = self._process, None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        return process.returncode
