"""Case 4 of the hostile-input issue: memory is bounded in bytes, not rows.

Huge spans filled a queue bounded by rows with gigabytes, and DuckDB was left at 80 % of RAM.
"""

from __future__ import annotations

import pytest

from collectors.errors import StoreError
from collectors.store import Store
from tests.collectors.otlp.conftest import post
from tests.collectors.otlp.requests import request


def test_the_write_queue_is_bounded_in_bytes(receiver_factory, store):
    # rows would allow 400,000 spans; 1 MiB of Arrow holds far fewer of these 20 kB ones
    receiver = receiver_factory(max_queue_bytes=1024 * 1024, flush_rows=100_000, flush_interval=60)
    req = request(100)
    for sp in req.resource_spans[0].scope_spans[0].spans:
        sp.name = "x" * 20_000
    statuses = [post(receiver.http_address, request(100).SerializeToString() if i % 2 else req.SerializeToString())[0]
                for i in range(4)]
    assert statuses[0] == 200 and 503 in statuses  # 2 MB queued at most: the next big one waits
    assert receiver.status().queued_bytes <= 3 * 1024 * 1024


def test_duckdb_memory_limit_is_set_from_the_option(tmp_path):
    with Store(tmp_path / "a.duckdb") as store:  # the default
        assert store.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0] == "1.0 GiB"
    with Store(tmp_path / "a.duckdb", memory_limit="256MiB") as store:
        assert store.cursor().execute("SELECT current_setting('memory_limit')").fetchone()[0] == "256.0 MiB"
    with pytest.raises(StoreError, match="memory limit must look like"):
        Store(tmp_path / "a.duckdb", memory_limit="lots")


def test_collect_takes_the_memory_limit_option(tmp_path):
    from click.testing import CliRunner

    from dashboard.cli import cli

    result = CliRunner().invoke(cli, ["collect", "--db", str(tmp_path / "c.duckdb"), "--db-memory-limit", "oops",
                                       "--otlp-http", "127.0.0.1:0"])
    assert result.exit_code != 0 and "memory limit must look like" in result.output
