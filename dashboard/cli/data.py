"""`seamwatch import` and `seamwatch demo`: data into the store."""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from tqdm import tqdm

from collectors.errors import InputError
from collectors.importer import MAX_LINE_BYTES, ImportResult, import_file
from collectors.otlp.config import parse_size
from collectors.store import Store
from dashboard.cli.options import db_option, port_option


def _import_all(store: Store, files: list[Path], cluster: str,
                max_line_bytes: int = MAX_LINE_BYTES, decoder: Any = None) -> tuple[list[ImportResult], list[str]]:
    """Import every file; a file that cannot be used at all is refused in one sentence and the
    next one still imports. A store that cannot be written (a full disk) stops the command."""
    total = sum(f.stat().st_size for f in files if f.is_file())
    results: list[ImportResult] = []
    refused: list[str] = []
    with tqdm(total=total, unit="B", unit_scale=True, desc="importing", leave=False,
              disable=None) as bar:
        for f in files:
            try:
                results.append(import_file(store, f, cluster=cluster, progress=bar.update,
                                           max_line_bytes=max_line_bytes, decoder=decoder))
            except InputError as exc:
                refused.append(str(exc))
    return results, refused


def _derive(store: Store) -> None:
    """Derive every imported trace now: files are complete, nothing is waiting to arrive."""
    from collectors.derive import derive_all

    with tqdm(unit=" traces", desc="deriving", leave=False, disable=None) as bar:
        derive_all(store, quiet_for=timedelta(0), progress=bar.update)


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


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@click.option("--cluster", default="default", show_default=True, envvar="SEAMWATCH_CLUSTER", show_envvar=True,
              help="Cluster name for record and offset lines that do not name one.")
@click.option("--max-line-bytes", "max_line_bytes", metavar="SIZE", default=f"{MAX_LINE_BYTES // 2**20}MiB",
              show_default=True, envvar="SEAMWATCH_MAX_LINE_BYTES", show_envvar=True,
              help="Longest line imported; a longer one is rejected with its length, never held in memory.")
@click.option("--schemas", type=click.Path(file_okay=False, exists=True, path_type=Path), metavar="DIR",
              help="Folder of schemas named by schema id (42.avsc, 42.json, 42.pb) that decode wire-format "
                   "record values.")
@click.option("--schema-registry", "schema_registry", metavar="URL", envvar="SEAMWATCH_SCHEMA_REGISTRY",
              show_envvar=True, help="Schema registry that decodes wire-format record values (instead of --schemas).")
@click.option("--schema-registry-config", "schema_registry_config", type=click.Path(exists=True, dir_okay=False),
              envvar="SEAMWATCH_SCHEMA_REGISTRY_CONFIG", show_envvar=True,
              help="Properties file of schema-registry client settings (-S wins over it).")
@click.option("-S", "schema_registry_s", multiple=True, metavar="KEY=VALUE",
              help="Schema-registry client setting, e.g. -S basic.auth.user.info=USER:PASSWORD (repeatable).")
def import_cmd(files: tuple[Path, ...], db: str | None, cluster: str, max_line_bytes: str, schemas: Path | None,
               **registry: Any) -> None:
    """Import OTLP JSON lines, Kafka record lines and offset snapshot lines into the store.

    Each file is imported once: importing it again is a no-op. Files commit in batches; after a
    failure, importing again continues where it stopped. Bad lines are counted, kept in
    ingest_errors, and never stop the import.
    """
    if not db:
        raise click.UsageError("--db is required (or set SEAMWATCH_DB)")
    cap = parse_size(max_line_bytes, what="--max-line-bytes")
    if cap < 1024:
        raise click.BadParameter(f"must be at least 1KiB, not {max_line_bytes}", param_hint="--max-line-bytes")
    for f in files:
        if not f.is_file():
            raise InputError(f"{f} does not exist or is not a file")
    decoder = _decoder(schemas, registry)
    with Store(db) as store:
        results, refused = _import_all(store, list(files), cluster, max_line_bytes=cap, decoder=decoder)
        _derive(store)
        _report(results)
    for reason in refused:
        click.echo(f"seamwatch: {reason}", err=True)
    if refused:
        raise SystemExit(2)  # as for any error Seamwatch explains (dashboard.cli)


def _decoder(schemas: Path | None, registry: dict[str, Any]) -> Any:
    """The wire-format decoder for --schemas or --schema-registry (one of them), or None."""
    from collectors.normalize.wire_format import WireDecoder
    from dashboard.cli.kafka_options import schema_source

    source = schema_source({**registry, "schemas": schemas})
    return None if source is None else WireDecoder(source)


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
        with Store(db) as store:
            load_into_store(store, TOPOLOGY_FILE)
            from collectors.normalize.wire_format import FolderSchemas, WireDecoder

            results, _ = _import_all(store, sorted(report.files[k] for k in ("spans", "records", "offsets")),
                                     cluster="sample", decoder=WireDecoder(FolderSchemas(report.files["schemas"])))
            _derive(store)
            counts = store.counts()
    _report(results)
    click.echo(f"simulator: {report.summary()}")
    click.echo(f"store {db}:")
    for table, n in counts.items():
        click.echo(f"  {table:<24}{n:>10}")
    if load_only:
        return
    from dashboard.cli.serve import serve_dashboard

    serve_dashboard(db, port=port)


COMMANDS = [import_cmd, demo_cmd]
