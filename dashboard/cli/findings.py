"""`seamwatch findings`: every rule over a store, as a table for people or JSON for scripts.

The rules (dashboard.findings.engine, and the analyses under them, pandas among them) are
imported when the command runs: `seamwatch collect` loads this module too and never needs them.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click
import duckdb

from collectors.derive import Pending, pending
from collectors.errors import InputError, SeamwatchError, StoreError
from collectors.progress import derive_showing_progress
from collectors.store import Store
from collectors.store.lake import is_lake
from collectors.store.migrate import LATEST, schema_version
from dashboard.analyses.window import Window
from dashboard.cli.options import db_option
from dashboard.findings import noise
from dashboard.findings.model import SEVERITIES, Finding, count_text, noun_for, plural

if TYPE_CHECKING:
    from dashboard.findings import engine

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'15m', '1h', '2d' (also s and w) → timedelta."""
    m = _DURATION.match(text)
    if not m or int(m.group(1)) == 0:
        raise InputError(f"--since must look like 15m, 1h or 2d (s, m, h, d, w), not {text!r}")
    return timedelta(**{_UNITS[m.group(2).lower()]: int(m.group(1))})


def parse_time(text: str, option: str) -> datetime:
    """An ISO time in UTC ('2026-03-02T12:00', seconds and fractions optional), naive as the store keeps it."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{option} must be a UTC time like 2026-03-02T12:00:00, not {text!r}") from None
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return t


def _window(cur: Any, since: str | None, start: datetime | None = None, end: datetime | None = None) -> Window:
    whole = Window.everything(cur)
    if start is not None or end is not None:
        # The dashboard's Findings page names its window this way, so both list the same findings.
        return Window(start or whole.start, end or whole.end)
    if since is None:
        return whole
    # A store no collector holds is a capture: "the last hour" means of its data, not of the clock.
    return Window(max(whole.start, whole.end - parse_duration(since)), whole.end)


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def as_json(report: engine.Report, waiting: Pending | None = None, card: list[dict[str, Any]] | None = None) -> str:
    waiting = waiting or Pending(0, None)
    doc = {
        "window": {"start": report.window.start.isoformat(), "end": report.window.end.isoformat()},
        # count_unit (singular) and count_text ("616 messages") say what each count counts
        "findings": [{**f.as_dict(), "count_text": count_text(f)} for f in report.findings],
        "errors": report.errors,
        # the design scorecard: one row per line of the guidance, judged on every finding (dashboard.findings.scorecard)
        "scorecard": card or [],
        # what is stored but not analysed yet (only when the file could not be opened for writing)
        "pending": {"traces": waiting.traces, "since": waiting.since.isoformat() if waiting.since else None,
                    "offset_snapshots": waiting.offset_snapshots},
    }
    return json.dumps(doc, default=_jsonable, indent=2, ensure_ascii=False)


def _when(t: datetime | None) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def pending_line(waiting: Pending | None, *, lake: bool = False) -> str | None:
    """One sentence on what the store holds but could not be analysed, or None."""
    if waiting is None or not (waiting.traces or waiting.offset_snapshots):
        return None
    parts = []
    if waiting.traces:
        parts.append(f"{plural(waiting.traces, 'trace')} not analysed yet (spans since {_when(waiting.since)} UTC)")
    if waiting.offset_snapshots:
        parts.append(f"{plural(waiting.offset_snapshots, 'offset snapshot')} not judged yet")
    why = ("the lake's collectors analyse them (one at a time, as they go)" if lake else
           "the file could not be opened for writing to analyse them (read-only, or another process holds it)")
    return "incomplete: " + " and ".join(parts) + f"; {why}: their findings are missing below"


def as_table(report: engine.Report, min_severity: str, waiting: Pending | None = None, *, lake: bool = False,
             each: bool = False) -> str:
    """A fixed-width table, one block per finding: the row, then what was seen and what to do.

    Folded as the pages fold (dashboard/findings/noise.py) unless ``each``: a rule of very many
    warnings or errors, and each info rule, is one block naming its subjects, so 240 stopped groups
    do not push the one dead letter off the screen."""
    width = max(80, min(shutil.get_terminal_size((120, 40)).columns, 160))
    everything = report.findings
    found = everything if each else noise.fold(everything)
    rule_w = max([24, *(len(f.rule) for f in found)])
    # each count with what it counts: "616 messages" beside "5 publications", the numbers aligned
    counts = [f"{f.count:>7,} {noun_for(f.count, f.count_unit)}".rstrip() for f in found]
    count_w = max([len("COUNT"), *map(len, counts)])
    head = (f"{'SEVERITY':<9} {'RULE':<{rule_w}} {'SUBJECT':<34} {'COUNT':<{count_w}}  "
            f"{'FIRST SEEN':<19}  {'LAST SEEN':<19}")
    lines = [f"window {_when(report.window.start)} → {_when(report.window.end)} UTC"]
    if (note := pending_line(waiting, lake=lake)) is not None:
        lines += textwrap.wrap(note, width=width)
    if not found:
        lines.append(f"no findings at or above {min_severity}")
        return "\n".join(lines)
    lines += ["", head, "-" * len(head)]
    for f, count in zip(found, counts, strict=True):
        subject = f"{noise.kind_before_subject(f)}{f.subject}"
        if len(subject) > 34:
            subject = subject[:33] + "…"
        lines.append(f"{f.severity:<9} {f.rule:<{rule_w}} {subject:<34} {count:<{count_w}}  "
                     f"{_when(f.first_seen):<19}  {_when(f.last_seen):<19}")
        for text, mark in ((f.summary, "  "), (_folded_subjects(f), "  "), (f.remedy, "→ ")):
            lines += textwrap.wrap(text, width=width - 10, initial_indent=" " * 10 + mark,
                                   subsequent_indent=" " * 12)
    counts = ", ".join(f"{n} {s}" for s in reversed(SEVERITIES)
                       if (n := sum(f.severity == s for f in everything)))
    lines += ["", f"{len(everything)} findings ({counts})"]
    if len(found) < len(everything):
        lines[-1] += f" in {len(found)} rows; --each lists every one"
    return "\n".join(lines)


FOLDED_NAMED = 12  # a folded block names this many of its subjects


def _folded_subjects(f: Finding) -> str:
    """A folded block's subjects, the first FOLDED_NAMED of them ("" for a finding of its own)."""
    if not noise.is_folded(f):
        return ""
    subjects = [str(e["subject"]) for e in f.evidence["findings"]]
    more = f" and {len(subjects) - FOLDED_NAMED:,} more" if len(subjects) > FOLDED_NAMED else ""
    return "on " + ", ".join(subjects[:FOLDED_NAMED]) + more


def worst_at_or_above(found: list[Finding], level: str | None) -> bool:
    from dashboard.findings import engine

    return level is not None and bool(engine.at_or_above(found, level))


def _pending(db: str) -> tuple[Pending | None, int]:
    """What the file holds but has not analysed (None when it cannot say), and its schema version."""
    with Store(db, read_only=True) as store:
        version = schema_version(store.con)
        try:
            return pending(store.cursor()), version
        except duckdb.Error:
            return None, version


def derive_pending(db: str) -> Pending:
    """Upgrade and analyse when the file can be written and needs it; returns what is still pending.

    Read-only first, so a store at this schema with nothing pending is never written to. An
    older file is upgraded (its progress on stderr) and the traces it then queues are derived,
    with their time left. A file that cannot be opened for writing (read-only, or a dashboard
    holds it) is left as it is and what waits is returned, for the output to say so. A lake is
    only read: its collectors upgrade and derive it.
    """
    waiting, version = _pending(db)
    if is_lake(db):  # a lake's collectors derive it (one at a time, through a lease); a reader never writes
        return waiting or Pending(0, None)
    if waiting is not None and not (waiting.traces or waiting.offset_snapshots) and version >= LATEST:
        return waiting
    try:
        with Store(db) as store:
            # an upgraded store derives every trace again once (migrations 006, 007): say so, with the time left
            derive_showing_progress(store, what="deriving pending traces")
    except StoreError:  # read-only file or folder, or held by another process: report instead
        return waiting or Pending(0, None)
    return _pending(db)[0] or Pending(0, None)


_LEVEL = click.Choice(SEVERITIES, case_sensitive=False)


@click.command("findings")
@db_option
@click.option("--json", "as_json_", is_flag=True,
              help="Print JSON (window, findings, errors, scorecard, pending) instead of a table.")
@click.option("--since", metavar="DURATION",
              help="Only the last DURATION of the stored data (15m, 1h, 2d); default all history.")
@click.option("--from", "start", metavar="TIME",
              help="Start of the window, a UTC time like 2026-03-02T12:00:00 (default: the oldest data).")
@click.option("--to", "end", metavar="TIME",
              help="End of the window, exclusive (default: just after the newest data).")
@click.option("--min-severity", type=_LEVEL, default="info", show_default=True,
              help="Leave out findings below this severity.")
@click.option("--fail-on", type=_LEVEL, default=None,
              help="Exit with status 1 when a finding at or above this severity exists (default: never).")
@click.option("--each", is_flag=True,
              help="List every finding: by default the table folds a rule of very many warnings or errors, "
                   "and each info rule, into one row naming its subjects, as the dashboard does (--json never "
                   "folds).")
def findings_cmd(db: str | None, as_json_: bool, since: str | None, start: str | None, end: str | None,
                 min_severity: str, fail_on: str | None, each: bool) -> None:
    """Run every rule over the store and list what it found, worst first.

    Traces (and offset snapshots) stored but not analysed yet, as a collector stopped
    without deriving leaves them, are analysed first when the file can be opened for
    writing; otherwise the output says how many are pending and since when. Exit status: 0,
    or 1 when --fail-on is given and a finding at or above that severity exists, or 2 when
    the store cannot be used or a rule failed.
    """
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    if since is not None:
        parse_duration(since)  # a bad duration fails before the store is opened
    if since is not None and (start or end):
        raise InputError("give --since, or --from/--to, not both")
    t0 = parse_time(start, "--from") if start else None
    t1 = parse_time(end, "--to") if end else None
    if t0 is not None and t1 is not None and t1 <= t0:
        raise InputError("--to must be after --from")
    min_severity, fail_on = min_severity.lower(), fail_on.lower() if fail_on else None
    from dashboard.findings import engine
    from dashboard.findings.scorecard import scorecard

    waiting = derive_pending(db)
    with Store(db, read_only=True) as store:
        cur = store.cursor()
        try:
            window = _window(cur, since, t0, t1)
        except ValueError as exc:  # --from after the newest data, or --to before the oldest
            raise InputError(f"the window is empty: {exc}") from None
        except duckdb.Error as exc:
            raise StoreError(f"{db} is not a usable Seamwatch database: {str(exc).splitlines()[0]}") from None
        report = engine.evaluate(cur, window)
        card = scorecard(cur, window, report.findings) if as_json_ else None
        version = schema_version(cur)
    everything = report.findings  # --fail-on judges all of them, whatever is shown
    report.findings = engine.at_or_above(everything, min_severity)
    click.echo(as_json(report, waiting, card) if as_json_ else
               as_table(report, min_severity, waiting, lake=is_lake(db), each=each))
    if report.errors:
        failed = "; ".join(f"{m}: {r}" for m, r in sorted(report.errors.items()))
        hint = ""
        if version < LATEST:  # read-only never migrates: an old file lacks newer tables
            hint = (f"; {db} has schema version {version}, this Seamwatch {LATEST}: open it once for writing "
                    f"(seamwatch import or collect with --db {db}) to migrate it")
        raise SeamwatchError(f"some rules could not run, so this list is incomplete ({failed}){hint}")
    if worst_at_or_above(everything, fail_on):
        click.get_current_context().exit(1)


COMMANDS = [findings_cmd]
