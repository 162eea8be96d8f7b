"""`seamwatch import` and `seamwatch demo`: data into the store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, cast

import click
from tqdm import tqdm

from collectors import sources
from collectors.errors import InputError
from collectors.import_source import FileImport
from collectors.importer import ImportResult
from collectors.store import Store
from dashboard.cli.options import db_option, port_option
from dashboard.cli.serve import DashboardSettings, serve_dashboard
from dashboard.cli.source_options import source_options, usage_errors


def _imports(store: Store, options: dict[str, Any]) -> list[FileImport]:
    """The imports the file sources build for the options given (checked before anything is read)."""
    with usage_errors():  # a files source builds components that run to their end (FileImport)
        return cast(list[FileImport], sources.build(store, options, "files"))


def _import_all(imports: list[FileImport]) -> tuple[list[ImportResult], list[str]]:
    """Run every import in turn, with one progress bar over all their files. A file that cannot
    be used at all is refused in one sentence and the next one still imports; a store that
    cannot be written (a full disk) stops the command."""
    total = sum(f.stat().st_size for i in imports for f in i.files if f.is_file())
    with tqdm(total=total, unit="B", unit_scale=True, desc="importing", leave=False,
              disable=None) as bar:
        done = [i.run(progress=bar.update) for i in imports]
    return [r for i in done for r in i.results], [reason for i in done for reason in i.refused]


def _derive(store: Store) -> None:
    """Derive every imported trace now: files are complete, nothing is waiting to arrive."""
    from collectors.progress import derive_showing_progress

    derive_showing_progress(store)


def _report(results: list[ImportResult]) -> None:
    for r in results:
        if r.skipped:
            click.echo(f"{r.path}: already imported, skipped")
            continue
        counts = ", ".join(f"{n} {t}" for t, n in sorted(r.rows.items())) or "nothing"
        resumed = f" (resumed after line {r.resumed_after})" if r.resumed_after else ""
        undecoded = f", {r.undecoded} wire-format values stored undecoded" if r.undecoded else ""
        click.echo(f"{r.path}: {r.kind}, {counts}, {r.rejected} rejected{undecoded}{resumed}")
        for reason in r.reasons:
            click.echo(f"  rejected {reason}")


@source_options("files")
@click.command("import")
@db_option
def import_cmd(db: str | None, **options: Any) -> None:
    """Import OTLP JSON lines, Kafka record lines and offset snapshot lines into the store.

    Each file is imported once: importing it again is a no-op. Files commit in batches; after a
    failure, importing again continues where it stopped. Bad lines are counted, kept in
    ingest_errors, and never stop the import.
    """
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    store = Store(db)
    imports = _imports(store, options)
    with store:
        results, refused = _import_all(imports)
        _derive(store)
        _report(results)
    for reason in refused:
        click.echo(f"seamwatch: {reason}", err=True)
    if refused:
        raise SystemExit(2)  # as for any error Seamwatch explains (dashboard.cli)


@click.command("demo")
@db_option
@port_option
@click.option("--load-only", is_flag=True, help="Load the sample data, print the counts per table and exit.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the sample simulator.")
@click.option("--minutes", type=click.IntRange(1, 24 * 60), default=30, show_default=True,
              help="Minutes of simulated activity.")
def demo_cmd(db: str | None, port: int, load_only: bool, seed: int, minutes: int) -> None:
    """Generate the sample topology's data, import it and serve the dashboard over it."""
    from collectors.topology import load_into_store
    from sample_topology import TOPOLOGY_FILE
    from sample_topology.simulator import simulate_to_dir

    if db is None:
        db = os.path.join(tempfile.mkdtemp(prefix="seamwatch-demo-"), "demo.duckdb")
    if Path(db).exists():
        raise InputError(f"{db} exists already; the demo writes a new file (remove it or choose another --db)")
    with tempfile.TemporaryDirectory(prefix="seamwatch-sample-") as tmp:
        click.echo(f"simulating {minutes} minutes of the sample shop (seed {seed}) …")
        report = simulate_to_dir(Path(tmp), seed=seed, minutes=minutes)
        store = Store(db)
        imports = _imports(store, {"files": sorted(report.files[k] for k in ("spans", "records", "offsets")),
                                   "cluster": "sample", "schemas": report.files["schemas"]})
        with store:
            load_into_store(store, TOPOLOGY_FILE)
            results, _ = _import_all(imports)
            _derive(store)
            counts = store.counts()
    _report(results)
    click.echo(f"simulator: {report.summary()}")
    click.echo(f"store {db}:")
    for table, n in counts.items():
        click.echo(f"  {table:<24}{n:>10}")
    if load_only:
        return
    serve_dashboard(DashboardSettings(db=db, port=port))


COMMANDS = [import_cmd, demo_cmd]
