"""Finding notifications: each finding that is new or got worse is posted once, and a notice when it clears.

Two steps, so a receiver that is down never holds anything up and a restart never repeats
itself (docs/architecture.md#alerts-and-notifications):

1. After each run of the findings watch, :meth:`Notifier.on_report` compares what the rules see
   (at or above the receiver's minimum severity) with what the receiver was told
   (``notify_state``, migration 011) and, in one store transaction, queues the notices in
   ``notify_outbox`` together with the new state. New: not open for this receiver; worse: its
   severity rose above the gravest announced; resolved: announced and no longer seen at any
   severity. A rule that failed in the run resolves nothing (its findings are unknown, not gone).
2. One sender thread per receiver posts its queued notices in order, marks each delivered on a
   2xx answer, and retries a failure (no connection, a timeout, 408, 429, 5xx) with exponential
   backoff; another 4xx is a refusal: logged, marked, not retried.

A notice is queued before it is sent and marked after the receiver took it, so a crash between
the two sends it once more at the next start; its ``id`` (also the Idempotency-Key header)
lets a receiver drop such a repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from collectors.errors import ConfigError, first_line
from collectors.status import NotifyStatus
from collectors.store import Store
from dashboard.findings.engine import Report
from dashboard.findings.model import SEVERITIES, Finding, severity_rank

log = logging.getLogger(__name__)

DEFAULT_MIN_SEVERITY = "warning"
TIMEOUT_S = 5.0  # one POST; a receiver slower than this is retried later
MAX_BACKOFF_S = 60.0
MAX_TEXT = 3000  # characters of `text`: Slack shows a message's first 4,000; the rest is in `seamwatch`
_RETRY_STATUSES = frozenset({408, 425, 429})
_ICON = {"info": ":information_source:", "warning": ":warning:", "error": ":rotating_light:",
         "critical": ":fire:", "resolved": ":white_check_mark:"}


@dataclass(frozen=True)
class Receiver:
    """One webhook: where to post and the least severe finding it wants."""

    url: str
    min_severity: str = DEFAULT_MIN_SEVERITY

    @property
    def key(self) -> str:
        """How the store names this receiver: the URL's sha256 (the URL itself may hold a secret)."""
        return hashlib.sha256(self.url.encode()).hexdigest()

    @property
    def shown(self) -> str:
        """The URL for logs and status: scheme, host and port only (Slack's secret is in the path)."""
        parts = urlsplit(self.url)
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}/…"


def parse_receiver(text: str, *, default_severity: str = DEFAULT_MIN_SEVERITY) -> Receiver:
    """'URL' or 'URL#severity=error' → Receiver. The fragment is never sent to the receiver."""
    url, _, fragment = text.strip().partition("#")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--notify needs an http:// or https:// URL, not {_redact(url)!r}")
    severity = default_severity
    if fragment:
        name, _, value = fragment.partition("=")
        if name != "severity" or value not in SEVERITIES:
            raise ConfigError(f"--notify takes URL#severity=LEVEL with LEVEL one of {', '.join(SEVERITIES)}, "
                              f"not #{fragment}")
        severity = value
    if severity not in SEVERITIES:
        raise ConfigError(f"--notify-min-severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    return Receiver(url=url, min_severity=severity)


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…" if parts.hostname else url[:12] + "…"


def _key(f: Finding) -> tuple[str, str, str]:
    return (f.rule, f.subject_kind, f.subject)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def slack_escape(text: str) -> str:
    """Names come from the data: a topic called '<!channel>' must read as text, not page a whole channel.
    Slack's rule: escape &, < and > (and nothing else) in `text`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notice_text(event: str, rule: str, severity: str, subject_kind: str, subject: str,
                finding: Finding | None, previous: str | None = None) -> str:
    """The Slack-compatible `text`: one line a person reads on a phone (at most MAX_TEXT characters)."""
    where = f"{rule} on {subject_kind} {slack_escape(subject)}"
    if event == "resolved":
        text = f"{_ICON['resolved']} RESOLVED {where}: no longer seen (was {severity})."
    else:
        assert finding is not None
        head = f"{_ICON.get(severity, '')} {severity.upper()} {where}"
        if event == "worse":
            head += f" (worse: was {previous})"
        text = f"{head}: {slack_escape(finding.summary)} Remedy: {slack_escape(finding.remedy)}".strip()
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def notice_body(notice_id: str, event: str, rule: str, severity: str, subject_kind: str, subject: str,
                finding: Finding | None, previous: str | None = None) -> str:
    body: dict[str, Any] = {
        "text": notice_text(event, rule, severity, subject_kind, subject, finding, previous),
        "seamwatch": {"id": notice_id, "event": event, "rule": rule, "severity": severity,
                      "previous_severity": previous, "subject_kind": subject_kind, "subject": subject},
    }
    if finding is not None:
        body["seamwatch"].update(finding.as_dict())
        body["seamwatch"].pop("evidence", None)  # ids for the dashboard; bounded notices carry none
    return json.dumps(body, default=str)


class Notifier:
    """The notifications as a runtime Component: fed by the findings watch, one sender thread per receiver."""

    name = "notify"

    def __init__(self, store: Store, receivers: Sequence[Receiver], *, backoff_s: float = 1.0,
                 timeout_s: float = TIMEOUT_S) -> None:
        if not receivers:
            raise ValueError("no receivers to notify")
        if len({r.key for r in receivers}) != len(receivers):
            # two senders over one queue would post each notice twice
            raise ConfigError("--notify names the same URL twice; give it once (URL#severity=LEVEL sets its severity)")
        self.store = store
        self.receivers = list(receivers)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self._stop = threading.Event()
        self._wake = {r.key: threading.Event() for r in self.receivers}
        self._threads: list[threading.Thread] = []
        self._stats: dict[str, Any] = {"sent": 0, "failures": 0, "refused": 0, "last_sent": None,
                                       "last_error": None}
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for r in self.receivers:
            t = threading.Thread(target=self._send_loop, args=(r,), name=f"seamwatch-notify-{r.key[:8]}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop sending; what is still queued stays in the store and goes out at the next start."""
        self._stop.set()
        for e in self._wake.values():
            e.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def status(self) -> NotifyStatus:
        s = self._stats
        try:
            cur = self.store.cursor()
            try:
                row = cur.execute("SELECT count(*) FROM notify_outbox WHERE delivered_at IS NULL AND refused IS NULL"
                                  ).fetchone()
            finally:
                cur.close()
            pending = int(row[0]) if row else 0
        except Exception:  # the status line must not fail the page that shows it
            pending = None
        return NotifyStatus(receivers=len(self.receivers), sent=s["sent"], pending=pending, failures=s["failures"],
                            refused=s["refused"], last_sent_at=s["last_sent"], last_error=s["last_error"])

    # -- step 1: what to say ---------------------------------------------------------------------
    def on_report(self, report: Report) -> int:
        """Queue the notices this run of the rules calls for (all receivers, one transaction); how many."""
        queued = 0
        now = _now()
        with self.store.transaction() as tx:
            cur = tx.cursor
            for r in self.receivers:
                floor = severity_rank(r.min_severity)
                seen: dict[tuple[str, str, str], Finding] = {}
                for f in report.findings:
                    if severity_rank(f.severity) >= floor:
                        k = _key(f)
                        if k not in seen or severity_rank(f.severity) > severity_rank(seen[k].severity):
                            seen[k] = f
                present = {_key(f) for f in report.findings}  # at any severity: below the floor is not cleared
                told = {(rule, kind, subject): sev for rule, kind, subject, sev in cur.execute(
                    "SELECT rule, subject_kind, subject, severity FROM notify_state WHERE receiver = ?",
                    [r.key]).fetchall()}
                for k, f in sorted(seen.items()):
                    before = told.get(k)
                    if before is not None and severity_rank(f.severity) <= severity_rank(before):
                        continue
                    event = "new" if before is None else "worse"
                    self._queue(cur, r, event, k, f.severity, f, before, now)
                    cur.execute("DELETE FROM notify_state WHERE receiver = ? AND rule = ? AND subject_kind = ? "
                                "AND subject = ?", [r.key, *k])
                    cur.execute("INSERT INTO notify_state VALUES (?, ?, ?, ?, ?, ?)", [r.key, *k, f.severity, now])
                    queued += 1
                for k, sev in sorted(told.items()):
                    if k in present or k[0] in report.errors:
                        continue
                    self._queue(cur, r, "resolved", k, sev, None, None, now)
                    cur.execute("DELETE FROM notify_state WHERE receiver = ? AND rule = ? AND subject_kind = ? "
                                "AND subject = ?", [r.key, *k])
                    queued += 1
        if queued:
            for e in self._wake.values():
                e.set()
        return queued

    @staticmethod
    def _queue(cur: Any, r: Receiver, event: str, k: tuple[str, str, str], severity: str, finding: Finding | None,
               previous: str | None, now: datetime) -> None:
        notice_id = str(uuid.uuid4())
        body = notice_body(notice_id, event, k[0], severity, k[1], k[2], finding, previous)
        # the next place in the queue, in this transaction (a lake store has no sequences)
        cur.execute("INSERT INTO notify_outbox (id, notice_id, receiver, event, rule, subject_kind, subject, severity, "
                    "body, created_at) SELECT coalesce(max(id), 0) + 1, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM notify_outbox",
                    [notice_id, r.key, event, *k, severity, body, now])

    # -- step 2: saying it -----------------------------------------------------------------------
    def _next(self, r: Receiver) -> tuple[int, str, str] | None:
        cur = self.store.cursor()
        try:
            return cur.execute("SELECT id, notice_id, body FROM notify_outbox WHERE receiver = ? AND delivered_at IS "
                               "NULL AND refused IS NULL ORDER BY id LIMIT 1", [r.key]).fetchone()
        finally:
            cur.close()

    def _send_loop(self, r: Receiver) -> None:
        failures = 0
        wake = self._wake[r.key]
        while not self._stop.is_set():
            try:
                item = self._next(r)
            except Exception as exc:  # the store closing under us at stop, or a full disk: try again later
                log.debug("notify: cannot read the outbox: %s", exc)
                item = None
            if item is None:
                wake.wait(1.0)
                wake.clear()
                continue
            outbox_id, notice_id, body = item
            outcome, detail = self._post(r, notice_id, body)
            try:
                with self.store.transaction() as tx:
                    if outcome == "ok":
                        tx.cursor.execute("UPDATE notify_outbox SET delivered_at = ?, attempts = attempts + 1 "
                                          "WHERE id = ?", [_now(), outbox_id])
                    elif outcome == "refused":
                        tx.cursor.execute("UPDATE notify_outbox SET refused = ?, attempts = attempts + 1 WHERE id = ?",
                                          [detail, outbox_id])
                    else:
                        tx.cursor.execute("UPDATE notify_outbox SET attempts = attempts + 1 WHERE id = ?",
                                          [outbox_id])
            except Exception as exc:  # noqa: BLE001 (the notice stays queued; the next pass retries it)
                log.warning("notify: cannot record a delivery: %s", first_line(exc))
                self._stop.wait(self.backoff_s)
                continue
            with self._lock:
                if outcome == "ok":
                    self._stats["sent"] += 1
                    self._stats["last_sent"] = time.time()
                elif outcome == "refused":
                    self._stats["refused"] += 1
                    self._stats["last_error"] = detail
                else:
                    self._stats["failures"] += 1
                    self._stats["last_error"] = detail
            if outcome == "retry":
                failures += 1
                delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (failures - 1)) * random.uniform(0.8, 1.2)
                log.warning("notify %s: %s; retrying in %.0f s", r.shown, detail, delay)
                self._stop.wait(delay)
            else:
                failures = 0
                if outcome == "refused":
                    log.error("notify %s refused a notice for good: %s", r.shown, detail)

    def _post(self, r: Receiver, notice_id: str, body: str) -> tuple[str, str]:
        """('ok' | 'retry' | 'refused', what happened in one line)."""
        request = urllib.request.Request(r.url, data=body.encode(), method="POST", headers={
            "Content-Type": "application/json", "Idempotency-Key": notice_id, "User-Agent": "seamwatch"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:  # noqa: S310 (http(s) checked)
                answer.read(65536)
                return "ok", f"HTTP {answer.status}"
        except urllib.error.HTTPError as exc:
            what = f"HTTP {exc.code}"
            if exc.code in _RETRY_STATUSES or exc.code >= 500:
                return "retry", what
            return "refused", what
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out, a broken answer
            reason = getattr(exc, "reason", None) or exc
            return "retry", f"cannot reach it: {reason}"
