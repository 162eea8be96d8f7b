"""A lake whose data path is on S3-compatible object storage (collectors/store/lake.py), against
a real S3 server (SeaweedFS, scripts/s3_server.py) and a real PostgreSQL catalog: created with
``seamwatch lake create --data-path s3://…``, written by a receiver, read by another process,
maintained (files merged, old ones deleted from the bucket), and an outage of the server waited
out with nothing lost. The credentials and endpoint come from the AWS environment variables."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from collectors.otlp import OtlpReceiver
from collectors.store import Store
from collectors.store.lake import load_extensions, s3_secret
from collectors.store.lake_maintenance import maintain
from tests.collectors.otlp.conftest import FAST, post, through_an_outage, wait_stored
from tests.collectors.otlp.requests import request
from tests.conftest import lake_on, s3_env

pytestmark = pytest.mark.lake
ROOT = Path(__file__).resolve().parents[3]
SEAMWATCH = [sys.executable, "-c", "from dashboard.cli import main; main()"]
SPANS = 50  # per request: more than DuckLake inlines in the catalog, so each batch is a Parquet file


def _objects(prefix: str) -> list[str]:
    """The objects under ``prefix`` as the S3 server lists them (ListObjectsV2, through httpfs)."""
    con = duckdb.connect()
    try:
        load_extensions(con)
        assert s3_secret(con)
        return sorted(r[0] for r in con.execute("SELECT file FROM glob(?)", [prefix + "**"]).fetchall())
    finally:
        con.close()


def test_the_secret_is_made_from_the_aws_environment_and_never_shown() -> None:
    from collectors.errors import StoreError

    con = duckdb.connect()
    try:
        load_extensions(con)
        assert not s3_secret(con, {})  # no variable: no secret (public buckets only)
        assert s3_secret(con, {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "it's-secret",
                               "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9000"})
        said = con.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'seamwatch_s3'").fetchone()[0]
        assert "it's-secret" not in said and "secret=redacted" in said
        for part in ("key_id=AKIDEXAMPLE", "region=eu-west-1", "endpoint=127.0.0.1:9000", "url_style=path",
                     "use_ssl=false"):
            assert part in said.split(";"), (part, said)
        assert s3_secret(con, {"AWS_ENDPOINT_URL": "http://ignored:1", "AWS_ENDPOINT_URL_S3": "https://s3.example.com"})
        said = con.execute("SELECT secret_string FROM duckdb_secrets() WHERE name = 'seamwatch_s3'").fetchone()[0]
        assert "endpoint=s3.example.com" in said.split(";") and "use_ssl=true" in said.split(";")
        with pytest.raises(StoreError, match=r"'ftp://x' \(AWS_ENDPOINT_URL\) is not a URL"):
            s3_secret(con, {"AWS_ENDPOINT_URL": "ftp://x"})
    finally:
        con.close()


def test_the_cli_creates_a_lake_on_s3_a_receiver_writes_it_and_another_process_reads_it(
        postgres, s3_server, monkeypatch) -> None:
    from click.testing import CliRunner

    from dashboard.cli import cli

    prefix = s3_env(monkeypatch, s3_server)
    location = "ducklake:postgres:" + postgres.createdb("s3_cli_lake")
    made = CliRunner().invoke(cli, ["lake", "create", "--db", location, "--data-path", prefix])
    assert made.exit_code == 0, made.output
    assert f"data under {prefix}" in made.output and s3_server.environment()["AWS_SECRET_ACCESS_KEY"] not in made.output
    with Store(location) as store:
        receiver = OtlpReceiver(store, FAST)
        receiver.start()
        try:
            for _ in range(3):
                assert post(receiver.http_address, request(SPANS).SerializeToString())[0] == 200
            wait_stored(store, 3 * SPANS)
        finally:
            receiver.stop()
    parquet = [o for o in _objects(prefix) if o.endswith(".parquet")]
    assert parquet and all(o.startswith(prefix) for o in parquet), "the spans went to Parquet objects under the prefix"
    # a dashboard's process: its own environment, the lake opened read-only
    reader = textwrap.dedent(f"""
        from collectors.store import Store
        with Store({location!r}, read_only=True) as s:
            print(s.cursor().execute("SELECT count(*), count(DISTINCT (trace_id, span_id)) FROM spans").fetchone())
    """)
    out = subprocess.run([sys.executable, "-c", reader], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str((3 * SPANS, 3 * SPANS))
    findings = subprocess.run([*SEAMWATCH, "findings", "--db", location, "--json"],
                              capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert findings.returncode == 0, findings.stderr[-2000:]
    assert s3_server.environment()["AWS_SECRET_ACCESS_KEY"] not in findings.stdout + findings.stderr


def test_a_lake_on_a_bucket_that_does_not_exist_is_refused_in_one_sentence(postgres, s3_server, monkeypatch) -> None:
    from collectors.errors import StoreError
    from collectors.store.lake import create

    s3_env(monkeypatch, s3_server)
    location = "ducklake:postgres:" + postgres.createdb("s3_no_bucket")
    with pytest.raises(StoreError) as err:
        create(location, "s3://no-such-bucket/lake/")
    text = str(err.value)
    assert text.startswith("cannot reach the lake's data path s3://no-such-bucket/lake/") and "\n" not in text
    assert s3_server.environment()["AWS_SECRET_ACCESS_KEY"] not in text


def test_maintenance_merges_the_files_and_deletes_the_old_ones_from_the_bucket(postgres, s3_server,
                                                                               monkeypatch) -> None:
    prefix = s3_env(monkeypatch, s3_server)
    location = lake_on(postgres, prefix)
    with Store(location) as store:
        for batch in range(6):  # one commit, one small file each
            with store.transaction() as tx:
                tx.cursor.execute(
                    "INSERT INTO spans (trace_id, span_id, service, name, start_time) "
                    "SELECT printf('%032x', ? * 1000 + i), printf('%016x', i), 'svc', 'op', "
                    "TIMESTAMP '2026-03-01 10:00:00' + to_seconds(i) FROM range(?) AS r(i)", [batch, SPANS])
        cur = store.cursor()
        before = [o for o in _objects(prefix) if o.endswith(".parquet")]
        assert len(before) >= 6
        kept = cur.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchone()
        done = maintain(store, keep=timedelta(0))
        assert done["merged_files"] >= 6 and done["removed_files"] >= 6, done
        after = [o for o in _objects(prefix) if o.endswith(".parquet")]
        assert len(after) < len(before) and not set(before) & set(after), (before, after)
        assert cur.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchone() == kept


def test_s3_stopped_under_a_receiver_answers_503_then_stores_every_acknowledged_span_once(
        postgres, own_s3_server, monkeypatch, caplog) -> None:
    caplog.set_level(logging.WARNING)
    prefix = s3_env(monkeypatch, own_s3_server)
    through_an_outage(lake_on(postgres, prefix), own_s3_server.kill, own_s3_server.start, what="the S3 server",
                      settle_first=True, noticed_within=60, back_within=90)
    down = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
    assert len(down) == 1 and "\n" not in down[0], down
    # the table's folder under the data path, not its partition's, and why
    assert down[0].startswith(f"the lake's data path ({prefix}main/spans/) cannot be reached: Could not connect"), down[0]
    secret = own_s3_server.environment()["AWS_SECRET_ACCESS_KEY"]
    assert all(secret not in r.getMessage() for r in caplog.records)
