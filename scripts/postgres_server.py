"""A throwaway PostgreSQL cluster from Debian's packages, the catalog of the lake tests.

The tests start it as they start Kafka (scripts/kafka_broker.py): initdb into a temporary
folder, pg_ctl start on a free loopback port, trust authentication for one user, stopped at
the end. As root (CI), the server runs as the ``postgres`` user Debian's package creates,
since PostgreSQL refuses to run as root.

    python scripts/postgres_server.py run DIR       # start a cluster in DIR, stop it on Ctrl+C
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

VERSION = os.environ.get("SEAMWATCH_PG_VERSION", "15")
USER = "seamwatch"


class PostgresError(RuntimeError):
    pass


def bin_dir() -> Path:
    return Path(f"/usr/lib/postgresql/{VERSION}/bin")


def missing_requirement() -> str | None:
    """Why a cluster cannot be started here, or None."""
    if not (bin_dir() / "initdb").is_file():
        return f"PostgreSQL {VERSION} is not installed ({bin_dir()}/initdb is missing; apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """One cluster in ``workdir``: start(), stop(), restart(), createdb()."""

    def __init__(self, workdir: str | os.PathLike[str], *, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.data = self.workdir / "data"
        self.port = port or free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        out = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout, check=False)
        if out.returncode != 0:
            raise PostgresError(f"{Path(args[0]).name} failed: {(out.stderr or out.stdout).strip()[-2000:]}")
        return out

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"dbname={dbname} host=127.0.0.1 port={self.port} user={USER}"

    def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._as:
            shutil.chown(self.workdir, "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run(str(bin_dir() / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                      "--no-sync")
        opts = (f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=200")
        self._run(str(bin_dir() / "pg_ctl"), "-D", str(self.data), "-l", str(self.workdir / "log"),
                  "-o", opts, "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10)

    def stop(self, *, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(bin_dir() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def createdb(self, name: str) -> str:
        """Create a database; returns its libpq connection string."""
        self._run(str(bin_dir() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, name)
        return self.conninfo(name)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.workdir / "log").read_text(errors="replace")[-n:]
        except OSError:
            return ""


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2 or args[0] != "run":
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    why = missing_requirement()
    if why:
        print(why, file=sys.stderr)
        return 1
    pg = Postgres(args[1])
    pg.start()
    print(f"PostgreSQL {VERSION} up: {pg.conninfo()}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
