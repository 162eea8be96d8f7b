"""A throwaway S3-compatible server, SeaweedFS, for the tests of a lake on object storage.

The tests start it as they start PostgreSQL (scripts/postgres_server.py): ``weed server`` with
a master, a volume server, a filer and its S3 gateway, every port a free loopback one, data in
a temporary folder, one S3 identity (an access key and its secret) allowed everything. Its
buckets are made with ``weed shell``; the server is stopped at the end, or killed and started
again on the same ports and folder to play an outage.

SeaweedFS (Go, Apache-2.0) is built from source once, with the Go toolchain, into
``~/.cache/seamwatch/seaweedfs/<version>/weed`` (XDG_CACHE_HOME is honoured); the first build
takes minutes (GOFLAGS=-p=1 for a small machine). SEAMWATCH_WEED names a ``weed`` already built.

    python scripts/s3_server.py build        # build weed into the cache when it is missing
    python scripts/s3_server.py run DIR      # start a server in DIR, stop it on Ctrl+C
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

MODULE = "github.com/seaweedfs/seaweedfs"
VERSION = "v0.0.0-20261109003541-7506e5f91cd6"
ACCESS_KEY = "seamwatch-test"
SECRET_KEY = "seamwatch-test-secret"  # noqa: S105 (a throwaway server's, on loopback)
REGION = "us-east-1"


class S3ServerError(RuntimeError):
    pass


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "seamwatch" / "seaweedfs" / VERSION


def binary() -> Path:
    """Where ``weed`` is: SEAMWATCH_WEED, else the cache (built or not)."""
    given = os.environ.get("SEAMWATCH_WEED")
    return Path(given) if given else cache_dir() / "weed"


def missing_requirement() -> str | None:
    """Why a server cannot be started here, or None."""
    if binary().is_file():
        return None
    if shutil.which("go") is None:
        return f"SeaweedFS is not built ({binary()} is missing) and there is no Go toolchain to build it"
    return f"SeaweedFS is not built yet ({binary()} is missing): run python scripts/s3_server.py build"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(*, log: object = _say) -> Path:
    """Build ``weed`` into the cache unless it is there (or SEAMWATCH_WEED names one)."""
    target = binary()
    if target.is_file():
        return target
    go = shutil.which("go")
    if go is None:
        raise S3ServerError("building SeaweedFS needs the Go toolchain (go) on PATH")
    env = {**os.environ, "GOFLAGS": os.environ.get("GOFLAGS", "-p=1")}
    out = subprocess.run([go, "mod", "download", "-json", f"{MODULE}@{VERSION}"], capture_output=True, text=True,
                         env=env, timeout=1800, check=False)
    if out.returncode != 0:
        raise S3ServerError(f"go mod download {MODULE}@{VERSION} failed: {(out.stderr or out.stdout).strip()[-2000:]}")
    source = Path(json.loads(out.stdout)["Dir"])
    target.parent.mkdir(parents=True, exist_ok=True)
    log(f"building SeaweedFS {VERSION} into {target} (once; minutes)")  # type: ignore[operator]
    with tempfile.TemporaryDirectory(prefix="seaweedfs-", dir=target.parent) as work:
        tree = Path(work) / "src"
        # the module cache is read-only, and the module's replace directive forbids go install
        shutil.copytree(source, tree)
        for path in [tree, *tree.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        built = Path(work) / "weed"
        out = subprocess.run([go, "build", "-o", str(built), "./weed"], cwd=tree, capture_output=True, text=True,
                             env=env, timeout=7200, check=False)
        if out.returncode != 0:
            raise S3ServerError(f"go build ./weed failed: {(out.stderr or out.stdout).strip()[-2000:]}")
        built.replace(target)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
          "s3.port", "s3.port.grpc", "s3.port.iceberg", "s3.port.lance", "metricsPort")


class S3Server:
    """One SeaweedFS in ``workdir``: start(), stop(), kill(), restart(), create_bucket(); its S3 API at endpoint."""

    def __init__(self, workdir: str | os.PathLike[str]) -> None:
        self.workdir = Path(workdir)
        self.ports = {name: free_port() for name in _PORTS}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def environment(self) -> dict[str, str]:
        """The variables a Seamwatch process reads to reach this server (collectors/store/lake.py)."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION,
                "AWS_ENDPOINT_URL": self.endpoint}

    def _config(self) -> Path:
        path = self.workdir / "s3.json"
        path.write_text(json.dumps({"identities": [{
            "name": "seamwatch", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        return path

    def start(self, timeout: float = 60) -> None:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        args = [str(binary()), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3",
                f"-s3.config={self._config()}", "-volume.max=0", "-master.volumeSizeLimitMB=64",
                # a restart elects its one master in a second (10 s by default); a stop is at once
                "-master.electionTimeout=1s", "-volume.preStopSeconds=0",
                *(f"-{name}={port}" for name, port in self.ports.items())]
        log = (self.workdir / "log").open("ab")
        self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                      start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise S3ServerError(f"weed server exited with {self._proc.returncode}: {self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise S3ServerError(f"weed server's S3 gateway did not answer within {timeout:.0f} s: {self.log_tail()}")

    def _answers(self) -> bool:
        """True once the S3 gateway answers a request (unsigned: refused, but answered) and the
        volume server has joined the master (so a write finds a volume)."""
        try:
            urllib.request.urlopen(self.endpoint + "/", timeout=1)  # noqa: S310 (our loopback server)
        except urllib.error.HTTPError:
            pass
        except OSError:
            return False
        try:
            with urllib.request.urlopen(  # noqa: S310
                    f"http://127.0.0.1:{self.ports['master.port']}/dir/status", timeout=1) as r:
                return '"DataNodes"' in r.read().decode(errors="replace")
        except OSError:
            return False

    def create_bucket(self, name: str) -> None:
        """Make a bucket (``weed shell``'s s3.bucket.create)."""
        out = subprocess.run([str(binary()), "shell", self._address("master"),
                              self._address("filer")],
                             input=f"s3.bucket.create -name {name}\nexit\n", capture_output=True, text=True,
                             timeout=60, check=False)
        if out.returncode != 0 or "error" in out.stdout.lower():
            raise S3ServerError(f"cannot create bucket {name}: {(out.stderr or out.stdout).strip()[-1000:]}")

    def _address(self, role: str) -> str:
        # host:port.grpcport, SeaweedFS's way of naming a gRPC port that is not port + 10000
        return f"-{role}=127.0.0.1:{self.ports[role + '.port']}.{self.ports[role + '.port.grpc']}"

    def kill(self) -> None:
        """Stop the server at once (an outage): SIGKILL its process group."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait(timeout=30)
        self._proc = None

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=5)  # a throwaway server: its graceful end is not waited for long
            except subprocess.TimeoutExpired:
                self.kill()
        self._proc = None

    def restart(self, *, down_for: float = 0.0) -> None:
        self.kill()
        time.sleep(down_for)
        self.start()

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.workdir / "log").read_text(errors="replace")[-n:]
        except OSError:
            return ""


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if args == ["build"]:
        try:
            print(build())
        except S3ServerError as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    if len(args) != 2 or args[0] != "run":
        print("\n".join(line.strip() for line in __doc__.strip().splitlines()[-2:]), file=sys.stderr)
        return 2
    why = missing_requirement()
    if why:
        print(why, file=sys.stderr)
        return 1
    server = S3Server(args[1])
    server.start()
    env = " ".join(f"{k}={v}" for k, v in server.environment().items() if k != "AWS_SECRET_ACCESS_KEY")
    print(f"SeaweedFS up: {env} (secret: see scripts/s3_server.py)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
