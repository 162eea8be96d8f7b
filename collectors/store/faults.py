"""Faults of a lake store, each told in one sentence, and commit conflicts retried.

A lake (collectors/store/lake.py) fails in ways a DuckDB file does not, and DuckDB reports them
as long, multi-line errors that repeat the catalog's connection string. :func:`classify` turns
one into a :class:`Fault`: its kind and one sentence for the log and the status. The kinds:

- ``catalog``: PostgreSQL cannot be reached, or the connection broke (a restart, an outage).
  Waited out: the collector keeps its batch and retries with backoff.
- ``conflict``: another writer's commit touched the same table (retention's delete against an
  append, maintenance's merge against a delete, two processes upgrading one lake). Nothing is
  wrong: the transaction is run again (:func:`retry_conflicts`), never counted as a lost batch.
- ``data-path-full`` and ``data-path-unwritable``: the Parquet files cannot be written (a full
  disk; a folder not writable, or object storage refusing the key). Waited out like the catalog.
- ``data-path-unreachable``: the object storage of an ``s3://`` data path does not answer (the
  server down, the network, a 5xx). Waited out like the catalog. Its sentence names the data
  path as ``s3://bucket/folder/``, never the key.

Every other error is not the lake's: callers treat it as before (a bad row, a bug).
A commit that fails when the connection breaks may have reached PostgreSQL anyway; the
collectors' own exactly-once (positions in the tap's transaction, the OTLP writer's check of
stored span keys) makes the retry store it once.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from collectors.errors import first_line

log = logging.getLogger(__name__)

CATALOG, CONFLICT, DATA_PATH_FULL, DATA_PATH_UNWRITABLE, DATA_PATH_UNREACHABLE = (
    "catalog", "conflict", "data-path-full", "data-path-unwritable", "data-path-unreachable")
# tries of one transaction against conflicts: the tap's and the deriver's, and retention's,
# whose deletes meet every collector's appends (its backoff reaches 2 s: ~30 s and ~90 s in all)
CONFLICT_TRIES = 20
RETENTION_CONFLICT_TRIES = 50
BACKOFF_FIRST, BACKOFF_MAX = 0.05, 2.0

# the last: PostgreSQL refusing a catalog write that raced another's (SQLSTATE 40001), e.g. a
# flush of inlined rows deleting rows another transaction has just renewed
_CONFLICT = re.compile(r"Transaction conflict|conflict.*another transaction|"
                       r"another transaction has (deleted|altered|dropped|created)|"
                       r"could not serialize access due to concurrent update", re.IGNORECASE)
_CATALOG = re.compile(r"Unable to connect to Postgres|Failed to execute query|server closed the connection|"
                      r"terminating connection|no connection to the server|could not connect to server|"
                      r"connection to server at|SSL SYSCALL error|Failed to query most recent snapshot",
                      re.IGNORECASE)
_FILE = re.compile(r'(?:Could not write|Cannot open|Could not open|Cannot create|Could not create|Failed to create)'
                   r'( file| directory)? "([^"]+)"', re.IGNORECASE)
_FULL = re.compile(r"No space left on device|disk full|Disk quota exceeded", re.IGNORECASE)
_UNWRITABLE = re.compile(r"Read-only file system|Permission denied", re.IGNORECASE)
# object storage (httpfs): an object's URL in DuckDB's error, and what went wrong reaching it
_OBJECT_URL = re.compile(r"'((?:s3|https?)://[^'\s]+)'")
_UNREACHABLE = re.compile(r"Could not connect to server|Connection refused|Timeout was reached|"
                          r"Could(?:n't| not) resolve host|Connection reset|Failure when receiving data|"
                          r"Server returned nothing|Send failure|Service Unavailable|Bad Gateway|Gateway Timeout|"
                          r"Internal Server Error|SlowDown", re.IGNORECASE)
_FORBIDDEN = re.compile(r"\b403\b|Forbidden|AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch", re.IGNORECASE)
_CONNINFO_KEYS = ("host", "port", "dbname")

T = TypeVar("T")


@dataclass(frozen=True)
class Fault:
    """What went wrong in one sentence; ``kind`` None when it is not a fault of the lake."""

    kind: str | None
    reason: str

    @property
    def transient(self) -> bool:
        """Worth waiting for: retry the same batch, never count it lost."""
        return self.kind is not None


def catalog_name(location: str) -> str:
    """The catalog as a person names it: 'PostgreSQL dbname=x host=y port=z' (no user, no password)."""
    text = location.split("postgres:", 1)[-1]
    parts = dict(p.split("=", 1) for p in text.split() if "=" in p)
    named = " ".join(f"{k}={parts[k]}" for k in _CONNINFO_KEYS if k in parts)
    return f"PostgreSQL {named}" if named else "PostgreSQL"


def object_folder(url: str) -> str:
    """The data path an object's URL is under, as a person wrote it: ``s3://bucket/folder/``
    (an S3-compatible server's URLs name the bucket first; AWS's, in the host)."""
    if not url.startswith("s3://"):
        url = _s3_url(url)
    # a table's folder, not its partition's (year=2026/month=12/…, '=' written %3D in a URL)
    parts = url.rsplit("/", 1)[0].split("/")
    keep = next((i for i, p in enumerate(parts) if "=" in p or "%3D" in p.upper()), len(parts))
    return "/".join(parts[:keep]) + "/"


def _s3_url(url: str) -> str:
    """An S3-compatible server's object URL as s3://bucket/key."""
    host, _, path = url.split("://", 1)[1].partition("/")
    name = host.split(":")[0]
    if name.endswith(".amazonaws.com") and ".s3" in name and not name.startswith("s3"):
        path = name.split(".s3", 1)[0] + "/" + path  # virtual-hosted: bucket.s3.<region>.amazonaws.com
    return f"s3://{path.split('?', 1)[0]}"


def _object_storage(text: str) -> Fault | None:
    m = _OBJECT_URL.search(text)
    if not m:
        return None
    where = object_folder(m.group(1))
    if _UNREACHABLE.search(text):
        why = _UNREACHABLE.search(text).group(0)  # type: ignore[union-attr]
        return Fault(DATA_PATH_UNREACHABLE, f"the lake's data path ({where}) cannot be reached: {why}")
    if _FORBIDDEN.search(text):
        return Fault(DATA_PATH_UNWRITABLE, f"the lake's data path ({where}) refused the request: 403 Forbidden "
                                           "(check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
    return None


def _pg_reason(text: str) -> str:
    """What PostgreSQL or libpq said, on one line, without the extension's wrapping."""
    m = re.search(r'Unable to connect to Postgres at "[^"]*":\s*(.*)', text, re.DOTALL)
    if m:
        said = m.group(1).rsplit("failed: ", 1)[-1]
        return said.strip().splitlines()[0].strip() if said.strip() else "the connection failed"
    if "Failed to execute query" in text:
        return "the connection broke during a commit"
    return "the connection broke"


def classify(exc: BaseException, location: str) -> Fault:
    """The fault a lake's error is, in one sentence naming the lake's part that failed."""
    text = str(exc)
    if _CONFLICT.search(text):
        return Fault(CONFLICT, "the commit conflicted with another writer's on the lake "
                               f"({_conflict_detail(text)})")
    m = _FILE.search(text)
    folder = None
    if m:  # the folder the file was to go to
        folder = m.group(2) if (m.group(1) or "").strip().lower() == "directory" else m.group(2).rsplit("/", 1)[0]
    if _FULL.search(text):
        where = f" ({folder})" if folder else ""
        return Fault(DATA_PATH_FULL, f"the lake's data path is full{where}: No space left on device")
    if m and _UNWRITABLE.search(text):
        why = _UNWRITABLE.search(text).group(0)  # type: ignore[union-attr]
        return Fault(DATA_PATH_UNWRITABLE, f"cannot write to the lake's data path ({folder}): {why}")
    stored = _object_storage(text)
    if stored is not None:
        return stored
    if _CATALOG.search(text):
        return Fault(CATALOG, f"the lake's catalog ({catalog_name(location)}) cannot be reached: {_pg_reason(text)}")
    return Fault(None, first_line(exc))


def _conflict_detail(text: str) -> str:
    if "could not serialize access" in text:  # the catalog's words, not the statement it refused
        return "PostgreSQL: could not serialize access due to concurrent update"
    m = re.search(r"Transaction conflict\s*-\s*([^\n]+)", text)
    if m:
        return " ".join(m.group(1).split())
    return text.strip().splitlines()[0] if text.strip() else "a conflict"


def is_conflict(exc: BaseException) -> bool:
    return _CONFLICT.search(str(exc)) is not None


def name(location: str) -> str:
    """How a log line names a store: a file by its path, a lake by its catalog (never its user)."""
    return f"the lake on {catalog_name(location)}" if location.startswith("ducklake:") else location


def fault(exc: BaseException, location: str) -> Fault:
    """The lake's fault when the store is a lake; on a file, no kind and the error's first line."""
    if not location.startswith("ducklake:"):
        return Fault(None, first_line(exc))
    return classify(exc, location)


def describe(exc: BaseException, location: str) -> str:
    """One line for the log: the lake's fault when it is one, else the error's first line."""
    return fault(exc, location).reason


def retry_conflicts(work: Callable[[], T], *, what: str, tries: int = CONFLICT_TRIES,
                    sleep: Callable[[float], object] = time.sleep) -> T:
    """Run ``work`` (one whole transaction) again while its commit conflicts, with backoff.

    One line says a conflict was met (INFO: it is the lake working as designed); after
    ``tries`` conflicts in a row the last one is raised for the caller's own retry.
    """
    delay = BACKOFF_FIRST
    for attempt in range(1, tries + 1):
        try:
            return work()
        except Exception as exc:
            if not is_conflict(exc) or attempt >= tries:
                raise
            if attempt == 1:
                log.info("%s: %s; committing it again", what, classify(exc, "ducklake:").reason)
            sleep(delay * (0.5 + random.random()))  # noqa: S311 (jitter, not crypto)
            delay = min(delay * 2, BACKOFF_MAX)
    raise AssertionError("unreachable")  # pragma: no cover
