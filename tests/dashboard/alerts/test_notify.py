"""Finding notifications against real HTTP receivers: new, worse and resolved once each, per-URL severity,
retry after a 500, a receiver that never answers holds nothing else up, a restart does not re-send."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from collectors.errors import ConfigError
from dashboard.alerts.notify import Notifier, parse_receiver
from dashboard.analyses.window import Window
from dashboard.findings.engine import Report
from dashboard.findings.model import Finding
from tests.support.net import free_port
from tests.support.otlp_http import export_when_listening, poll
from tests.support.processes import interrupt
from tests.support.webhook import webhook

T = datetime(2026, 3, 2, 12, 0)


def _finding(severity: str, *, rule: str = "CONSUMER_LAG", subject: str = "billing") -> Finding:
    return Finding(rule=rule, severity=severity, subject_kind="group", subject=subject, count=3, first_seen=T,
                   last_seen=T, summary=f"{subject} stopped committing.", remedy="Restart the consumer.")


def _report(*findings: Finding, errors: dict[str, str] | None = None) -> Report:
    return Report(Window(T, T.replace(hour=13)), list(findings), dict(errors or {}))


@contextmanager
def _notifier(store, *urls: str) -> Iterator[Notifier]:
    """A started Notifier posting to ``urls`` (retrying quickly), stopped on the way out."""
    notifier = Notifier(store, [parse_receiver(u) for u in urls], backoff_s=0.05)
    notifier.start()
    try:
        yield notifier
    finally:
        notifier.stop()


def _events(bodies: list[dict]) -> list[tuple[str, str, str]]:
    return [(b["seamwatch"]["event"], b["seamwatch"]["subject"], b["seamwatch"]["severity"]) for b in bodies]


def test_new_worse_and_resolved_are_posted_once_each_per_receivers_severity(store) -> None:
    with webhook() as everyone, webhook() as pager:
        with _notifier(store, everyone.url, pager.url + "#severity=error") as notifier:
            notifier.on_report(_report(_finding("warning"), _finding("info", subject="audit")))
            notifier.on_report(_report(_finding("warning"), _finding("info", subject="audit")))  # nothing new
            everyone.wait_for(1)
            notifier.on_report(_report(_finding("error")))  # worse; audit's info was never sent, so no resolve
            notifier.on_report(_report(_finding("warning")))  # better again: not news, nor cleared for the pager
            notifier.on_report(_report())  # cleared
            notifier.on_report(_report())
            assert _events(everyone.wait_for(3)) == [("new", "billing", "warning"), ("worse", "billing", "error"),
                                                    ("resolved", "billing", "error")]
            assert _events(pager.wait_for(2)) == [("new", "billing", "error"), ("resolved", "billing", "error")]
            time.sleep(0.5)  # nothing more arrives
            assert len(everyone.received) == 3 and len(pager.received) == 2
    first = everyone.accepted[0]
    assert first["text"].startswith(":warning: WARNING CONSUMER_LAG on group billing: billing stopped committing.")
    assert "Remedy: Restart the consumer." in first["text"]
    assert everyone.accepted[1]["text"].startswith(":rotating_light: ERROR CONSUMER_LAG on group billing (worse: was warning)")
    assert everyone.accepted[2]["text"].startswith(":white_check_mark: RESOLVED CONSUMER_LAG on group billing")
    assert everyone.headers[0]["Idempotency-Key"] == first["seamwatch"]["id"]
    assert first["seamwatch"]["summary"] == "billing stopped committing." and "evidence" not in first["seamwatch"]
    assert notifier.status().sent == 5 and notifier.status().pending == 0
    # the store keeps a digest of each URL, never the URL (a webhook's secret is in its path)
    dump = json.dumps(store.cursor().execute("SELECT * FROM notify_outbox").fetchall(), default=str)
    assert "secret" not in dump and "/services/" not in dump


def test_a_failed_rule_resolves_nothing(store) -> None:
    with webhook() as hook:
        with _notifier(store, hook.url) as notifier:
            notifier.on_report(_report(_finding("error")))
            notifier.on_report(_report(errors={"CONSUMER_LAG": "Binder Error: boom"}))
            notifier.on_report(_report(_finding("error")))
            hook.wait_for(1)
            time.sleep(0.3)
    assert _events(hook.received) == [("new", "billing", "error")]


def test_a_receiver_answering_500_gets_the_notice_once_it_recovers(store) -> None:
    with webhook(statuses=[500, 503]) as hook:
        with _notifier(store, hook.url) as notifier:
            notifier.on_report(_report(_finding("error")))
            hook.wait_for(1)
    assert len(hook.received) == 3 and len(hook.accepted) == 1  # two refusals, then taken
    assert len({b["seamwatch"]["id"] for b in hook.received}) == 1  # the same notice each time
    s = notifier.status()
    assert (s.sent, s.failures, s.pending) == (1, 2, 0) and s.last_error == "HTTP 503"
    assert s.describe(now=s.last_sent_at) == "1 receiver · 1 sent · 0 pending · last delivery 0 s ago · 2 failed attempts · last error: HTTP 503"


def test_a_4xx_is_a_refusal_not_retried(store) -> None:
    with webhook(statuses=[404]) as hook:
        with _notifier(store, hook.url) as notifier:
            notifier.on_report(_report(_finding("error")))
            notifier.on_report(_report(_finding("error"), _finding("error", subject="other")))
            hook.wait_for(1)  # the second notice goes through; the first was refused and stays so
            time.sleep(0.3)
    assert [b["seamwatch"]["subject"] for b in hook.received] == ["billing", "other"]
    assert notifier.status().refused == 1


def test_a_receiver_that_never_answers_holds_up_nobody_else(store) -> None:
    black_hole = socket.socket()  # accepts connections (the kernel's backlog), never reads or answers
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(8)
    try:
        with webhook() as hook:
            stuck = parse_receiver(f"http://127.0.0.1:{black_hole.getsockname()[1]}/hook")
            notifier = Notifier(store, [stuck, parse_receiver(hook.url)], backoff_s=0.05, timeout_s=30)
            notifier.start()
            notifier.on_report(_report(_finding("error")))  # queues for both and returns: no posting here
            notifier.on_report(_report(_finding("error"), _finding("error", subject="other")))
            assert _events(hook.wait_for(2)) == [("new", "billing", "error"), ("new", "other", "error")]
            # the stuck receiver's two stay queued; the other's are marked sent just after the hook got them
            poll(lambda: notifier.status().pending == 2, timeout=10, what="the stuck receiver's 2 notices pending")
            notifier.stop(timeout=1)
    finally:
        black_hole.close()


@pytest.mark.parametrize("text", ["ftp://example.com/x", "hooks.slack.com/x", "http://h/x#severity=loud",
                                  "http://h/x#level=error"])
def test_a_bad_notify_url_is_one_sentence_without_its_path(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_receiver(text)
    assert "\n" not in str(err.value) and "/x" not in str(err.value)


def _seamwatch(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("seamwatch")
    return [str(script), *args] if script.is_file() else [sys.executable, "-c",
                                                         "from dashboard.cli import main; main()", *args]


def _collect(db: Path, url: str, *, otlp_port: int | None = None) -> subprocess.Popen:
    return subprocess.Popen(_seamwatch("collect", "--db", str(db), "--otlp-http", f"127.0.0.1:{otlp_port or free_port()}",
                                       "--notify", url, "--alert-interval", "0.5"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen) -> str:
    out = interrupt(proc, timeout=60)
    assert proc.returncode == 0, out
    return out


def _dead_letters(tmp_path: Path) -> Path:
    """A store holding three fresh dead letters: DEAD_LETTER (error) is open."""
    now_ms = int(time.time() * 1000)
    records = tmp_path / "records.jsonl"
    records.write_text("".join(json.dumps({
        "topic": "orders.DLT", "partition": 0, "offset": i, "timestamp": now_ms - 1000 * i, "key": f"order-{i}",
        "headers": [["kafka_dlt-original-topic", "orders"], ["kafka_dlt-exception-fqcn", "java.lang.IllegalStateException"]],
        "value": {"orderId": f"order-{i}"}}) + "\n" for i in range(3)))
    db = tmp_path / "live.duckdb"
    imported = subprocess.run(_seamwatch("import", str(records), "--db", str(db)), capture_output=True, text=True,
                              timeout=120)
    assert imported.returncode == 0, imported.stderr
    return db


@pytest.mark.slow  # `seamwatch collect` processes, run twice
def test_collect_notifies_a_dead_letter_once_and_a_restart_does_not_resend(tmp_path: Path) -> None:
    db = _dead_letters(tmp_path)
    with webhook(statuses=[500]) as hook:
        first = _collect(db, hook.url)
        try:
            got = hook.wait_for(1, timeout=60)
            time.sleep(2)  # four more runs of the rules: nothing new to say
        finally:
            _stop(first)
        assert _events(got) == [("new", "orders.DLT", "error")]
        assert "DEAD_LETTER on topic orders.DLT" in got[0]["text"]
        assert len(hook.received) == 2  # the 500, then the retry that was taken

        second = _collect(db, hook.url)
        try:
            time.sleep(4)  # eight runs of the rules over the same open finding
        finally:
            _stop(second)
        assert len(hook.received) == 2, hook.received[2:]


def test_names_from_the_data_cannot_ping_a_channel_and_text_is_bounded(store) -> None:
    loud = Finding(rule="DEAD_LETTER", severity="error", subject_kind="topic", subject="<!channel> & <@U123>",
                   count=1, first_seen=T, last_seen=T, summary="x" * 10_000, remedy="Look.")
    with webhook() as hook:
        with _notifier(store, hook.url) as notifier:
            notifier.on_report(_report(loud))
            body = hook.wait_for(1)[0]
    assert "on topic &lt;!channel&gt; &amp; &lt;@U123&gt;:" in body["text"]
    assert "<" not in body["text"] and len(body["text"]) <= 3000
    assert body["seamwatch"]["subject"] == "<!channel> & <@U123>"  # the structured part keeps the name


def test_the_same_url_twice_is_refused(store) -> None:
    with pytest.raises(ConfigError, match="same URL twice"):
        Notifier(store, [parse_receiver("http://h/x"), parse_receiver("http://h/x#severity=error")])


def test_retention_ages_old_notices_but_keeps_what_is_open(store) -> None:
    from datetime import timedelta

    from collectors.store.retention import Retention

    with webhook() as hook:
        with _notifier(store, hook.url) as notifier:
            notifier.on_report(_report(_finding("error")))
            hook.wait_for(1)
    later = datetime.now() + timedelta(days=30)
    deleted = Retention(store, timedelta(days=7)).run_once(now=later)
    assert deleted["notify_outbox"] == 1
    cur = store.cursor()
    assert cur.execute("SELECT count(*) FROM notify_state").fetchone()[0] == 1
    # still open: the next run says nothing new about it
    assert notifier.on_report(_report(_finding("error"))) == 0


@pytest.mark.slow  # a `seamwatch collect` process and a notice's POST timing out at stop
def test_a_receiver_that_hangs_does_not_hold_up_collect(tmp_path: Path) -> None:
    """The notice's POST hangs on a receiver that accepts and never answers; spans are still taken and stored."""

    from collectors.store import Store

    db = _dead_letters(tmp_path)
    black_hole = socket.socket()
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen(8)
    black_hole.settimeout(60)
    otlp_port = free_port()
    proc = _collect(db, f"http://127.0.0.1:{black_hole.getsockname()[1]}/hook", otlp_port=otlp_port)
    held = []
    try:
        held.append(black_hole.accept()[0])  # the notifier is now waiting for an answer that never comes
        span = {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174", "name": "GET /orders",
                "kind": 2, "startTimeUnixNano": str(time.time_ns()), "endTimeUnixNano": str(time.time_ns() + 10**6)}
        body = json.dumps({"resourceSpans": [{"resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "shop"}}]}, "scopeSpans": [{"spans": [span]}]}]}).encode()
        export_when_listening(otlp_port, body, timeout=30)
    finally:
        out = _stop(proc)
        for conn in held:
            conn.close()
        black_hole.close()
    assert "everything flushed and committed" in out
    with Store(db, read_only=True) as store:
        cur = store.cursor()
        assert cur.execute("SELECT count(*) FROM spans").fetchone()[0] == 1
        assert cur.execute("SELECT event, delivered_at FROM notify_outbox").fetchall() == [("new", None)]
