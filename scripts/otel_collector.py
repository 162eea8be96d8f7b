"""A real OpenTelemetry Collector for the tests that put one in front of Seamwatch's receiver.

Clusters rarely send spans straight from the SDKs: a Collector gathers them and forwards them
with its own exporters (``otlp_http`` with zstd, gzip or none, protobuf or JSON; gRPC's ``otlp``),
retrying what was refused. The tests run the Collector's own code for that: ``scripts/otelcol``
is a minimal distribution (the OTLP receiver and the two OTLP exporters of one Collector
release), built once with the Go toolchain into ``~/.cache/seamwatch/otelcol/<go.sum hash>/otelcol``
(XDG_CACHE_HOME is honoured; about a minute the first time). SEAMWATCH_OTELCOL names one built already.

    python scripts/otel_collector.py build    # build it into the cache when it is missing
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "otelcol"


class CollectorError(RuntimeError):
    pass


def binary() -> Path:
    """Where the Collector is: SEAMWATCH_OTELCOL, else the cache (built or not), keyed by its sources."""
    given = os.environ.get("SEAMWATCH_OTELCOL")
    if given:
        return Path(given)
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update((SOURCE / name).read_bytes())
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seamwatch" / "otelcol" / digest.hexdigest()[:16] / "otelcol"


def missing_requirement() -> str | None:
    """Why a Collector cannot be started here, or None."""
    if binary().is_file():
        return None
    if shutil.which("go") is None:
        return f"the OpenTelemetry Collector is not built ({binary()} is missing) and there is no Go toolchain"
    return "the OpenTelemetry Collector is not built yet: run python scripts/otel_collector.py build"


def build() -> Path:
    """Build the Collector into the cache unless it is there."""
    target = binary()
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise CollectorError("building the OpenTelemetry Collector needs the Go toolchain (go) on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"building the OpenTelemetry Collector into {target} (once; about a minute)", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="otelcol-", dir=target.parent) as work:
        built = Path(work) / "otelcol"
        out = subprocess.run([go, "build", "-trimpath", "-o", str(built), "."], cwd=SOURCE, capture_output=True,
                             text=True, timeout=3600, check=False)
        if out.returncode != 0:
            raise CollectorError(f"go build of scripts/otelcol failed: {(out.stderr or out.stdout).strip()[-2000:]}")
        built.replace(target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """One Collector in ``workdir``: the OTLP/gRPC receiver at ``endpoint``, spans forwarded by the
    exporter given as YAML (the body of one ``exporters:`` entry, named ``kind``)."""

    def __init__(self, workdir: str | os.PathLike[str], kind: str, exporter: str) -> None:
        self.workdir = Path(workdir)
        self.port = free_port()
        self.kind, self.exporter = kind, exporter
        self.log = self.workdir / "otelcol.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _config(self) -> Path:
        body = "\n".join("    " + line for line in self.exporter.strip().splitlines())
        path = self.workdir / "otelcol.yaml"
        path.write_text(f"""receivers:
  otlp:
    protocols:
      grpc:
        endpoint: {self.endpoint}
exporters:
  {self.kind}:
{body}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [{self.kind}]
""")
        return path

    def start(self, timeout: float = 30) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen([str(binary()), "--config", str(self._config())], stdout=out,
                                          stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise CollectorError(f"the Collector exited ({self._proc.returncode}): {self.tail()}")
            if "Everything is ready" in self.log.read_text(errors="replace"):
                return
            time.sleep(0.1)
        self.stop()
        raise CollectorError(f"the Collector was not ready after {timeout:g} s: {self.tail()}")

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def stop(self) -> None:
        """SIGTERM: the Collector drains its queue (or gives up on it) before it exits."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(10)
        self._proc = None


if __name__ == "__main__":
    if sys.argv[1:] != ["build"]:
        sys.exit(__doc__)
    try:
        print(build())
    except CollectorError as exc:
        sys.exit(f"otel_collector: {exc}")
