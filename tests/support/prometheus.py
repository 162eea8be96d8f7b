"""A real Prometheus server (Debian's `prometheus` package) for tests: own config, own data dir, free port.

Never the system service: each test starts its own process and stops it. Without the binaries
the tests skip and say why; under CI (CI=true) they fail instead.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.net import free_port

README = Path(__file__).resolve().parents[2] / "README.md"


def binary(name: str) -> str:
    """The path of `prometheus` or `promtool`; skip (fail under CI) when the package is missing."""
    found = shutil.which(name)
    if found:
        return found
    reason = f"{name} not found: install Debian's prometheus package (scripts/test.sh does, as root)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Prometheus tests cannot run under CI: {reason}")
    pytest.skip(reason)


def readme_rules() -> str:
    """The alert rules the README's "Alerts" section gives, as one rule file."""
    section = README.read_text(encoding="utf-8").split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL) if b.lstrip().startswith("groups:")]
    assert len(blocks) == 1, "the Alerts section must hold exactly one rule file (a yaml block starting 'groups:')"
    return blocks[0]


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as answer:
            doc = json.loads(answer.read())
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector of a PromQL query through /api/v1/query."""
        return self.get("/api/v1/query", query=promql)["result"]


@contextmanager
def prometheus(tmp_path: Path, *, targets: list[str], rule_files: list[Path] = ()) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` every second, evaluating ``rule_files`` every second."""
    exe = binary("prometheus")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [{"job_name": "seamwatch", "static_configs": [{"targets": targets}]}],
    }))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen([exe, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                            stdout=log, stderr=subprocess.STDOUT)
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Prometheus did not become ready"
            time.sleep(0.3)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()
