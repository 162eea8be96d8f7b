#!/usr/bin/env python3
"""A single-node Apache Kafka 4.x broker (KRaft) on 127.0.0.1, for tests and the live demo.

The broker's jars come from Maven Central (fetched with Maven into a cache outside the
repository), storage is formatted with ``kafka.tools.StorageTool`` and ``kafka.Kafka`` runs
under Java 17 with a small heap. Usage::

    python scripts/kafka_broker.py fetch              # download the jars once (CI does this)
    python scripts/kafka_broker.py start [--port 9092] # start in the background, print bootstrap
    python scripts/kafka_broker.py status | stop

Besides plain TCP it listens with SASL/PLAIN, TLS (``SSL``) and SASL/PLAIN over TLS (``SASL_SSL``):
the first start makes a throwaway CA and the broker's certificate with the JDK's ``keytool`` (no
OpenSSL needed) in the data folder's ``tls/``; clients trust ``tls/ca.pem``.

The test harness (tests/collectors/kafka/conftest.py) imports :class:`Broker` from this file.
Environment: SEAMWATCH_KAFKA_VERSION (default below), SEAMWATCH_KAFKA_CACHE (default
``~/.cache/seamwatch``), JAVA_HOME.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

KAFKA_VERSION = os.environ.get("SEAMWATCH_KAFKA_VERSION", "4.1.0")
HEAP = os.environ.get("SEAMWATCH_KAFKA_HEAP", "384m")

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>seamwatch.local</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>1</version>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>{version}</version>
    </dependency>
    <!-- the broker logs through slf4j 1.7; a simple binding sends WARN and above to the log file -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-simple</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
"""

_PROPERTIES = """\
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},SSL://127.0.0.1:{ssl_port},\
  SASL_SSL://127.0.0.1:{sasl_ssl_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_PLAINTEXT://127.0.0.1:{sasl_port},\
  SSL://127.0.0.1:{ssl_port},SASL_SSL://127.0.0.1:{sasl_ssl_port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,\
  CONTROLLER:PLAINTEXT
# client listeners for the -X tests: a SASL/PLAIN login (Broker.SASL_USER), TLS with the
# certificate the first start made (see make_tls), and both
sasl.enabled.mechanisms=PLAIN
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
  required username="{sasl_user}" password="{sasl_password}" user_{sasl_user}="{sasl_password}";
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
  required username="{sasl_user}" password="{sasl_password}" user_{sasl_user}="{sasl_password}";
# ACLs, for the tests of a collector denied some topics: the PLAINTEXT and SSL listeners (no client
# certificate) and the controller are User:ANONYMOUS, a super user; the SASL login is authorized, and a
# resource without any ACL is open to it
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS
allow.everyone.if.no.acl.found=true
ssl.keystore.type=PKCS12
ssl.keystore.location={tls}/broker.p12
ssl.keystore.password={store_password}
ssl.key.password={store_password}
inter.broker.listener.name=PLAINTEXT
controller.quorum.voters=1@127.0.0.1:{controller_port}
log.dirs={data}
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# first group assignment without the default 3 s wait (docs/architecture.md#testing-notes)
group.initial.rebalance.delay.ms=0
group.consumer.min.session.timeout.ms=1000
group.classic.min.session.timeout.ms=1000
log.segment.bytes=67108864
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
"""


class BrokerError(RuntimeError):
    """The broker cannot be fetched or started."""


def cache_root() -> Path:
    return Path(os.environ.get("SEAMWATCH_KAFKA_CACHE") or Path.home() / ".cache" / "seamwatch")


def java_bin() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    # 'openjdk version "17.0.15" ...' or 'java version "1.8.0_..."'
    try:
        ver = out.split('"')[1]
    except IndexError:
        return 0
    parts = ver.split(".")
    return int(parts[1]) if parts[0] == "1" else int(parts[0].split("-")[0])


def keytool_bin() -> str | None:
    """The JDK's keytool beside the java that runs the broker (it comes with every Java 17 runtime)."""
    java = java_bin()
    if java:
        beside = Path(os.path.realpath(java)).with_name("keytool")
        if beside.exists():
            return str(beside)
    return shutil.which("keytool")


def missing_requirement() -> str | None:
    """Why a broker cannot be run here, or None when it can."""
    java = java_bin()
    if not java:
        return "no Java found (install Java 17+ or set JAVA_HOME)"
    if java_major(java) < 17:
        return f"Java 17+ is needed to run Kafka {KAFKA_VERSION}, found {java}"
    if not keytool_bin():
        return f"no keytool beside {java} to make the broker's TLS certificate (install a full Java 17 runtime)"
    if not libs_dir().is_dir() and not shutil.which("mvn"):
        return "the Kafka jars are not cached and Maven (mvn) is not installed to fetch them"
    return None


def libs_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_root() / f"kafka-{version}" / "libs"


def fetch(version: str = KAFKA_VERSION, *, quiet: bool = True) -> Path:
    """Download the broker's jars from Maven Central into the cache (once); return the folder."""
    target = libs_dir(version)
    if (target / f"kafka_2.13-{version}.jar").exists():
        return target
    mvn = shutil.which("mvn")
    if not mvn:
        raise BrokerError("Maven (mvn) is needed to fetch the Kafka jars")
    work = target.parent
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_POM.format(version=version))
    tmp = work / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-B", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout or "")[-2000:] if quiet else ""
        raise BrokerError(f"mvn could not fetch kafka_2.13:{version}:\n{tail}")
    tmp.rename(target)  # atomic: a half-done fetch never looks complete
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- TLS: a throwaway CA and the broker's certificate, made with keytool ----------------------
STORE_PASSWORD = "seamwatch-test"  # of the keystores under tls/, which only a test broker reads
_KEYTOOL_JVM = ("-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC")  # each call is a short JVM: start it fast


def _keytool(*args: str, stdout: Any = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    tool = keytool_bin()
    if not tool:
        raise BrokerError("no keytool found (it comes with Java 17)")
    return subprocess.Popen([tool, *_KEYTOOL_JVM, *args, "-storepass", STORE_PASSWORD, "-noprompt"],
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE)


def _finish(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise BrokerError(f"keytool failed: {err.decode(errors='replace').strip()[-500:]}")


def _new_key(store: Path, alias: str, cn: str, *ext: str) -> subprocess.Popen[bytes]:
    return _keytool("-genkeypair", "-alias", alias, "-dname", f"CN={cn}", "-keyalg", "EC", "-groupname", "secp256r1",
                    "-validity", "3650", *ext, "-keystore", str(store), "-storetype", "PKCS12")


def self_signed_ca(folder: Path, name: str) -> Path:
    """A new CA in ``folder`` (its key in ``name``.p12); returns its certificate, ``name``.pem."""
    folder.mkdir(parents=True, exist_ok=True)
    store, pem = folder / f"{name}.p12", folder / f"{name}.pem"
    _finish(_new_key(store, "ca", f"Seamwatch test CA {name}", "-ext", "bc:c"))
    with open(pem, "wb") as out:
        _finish(_keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(store), stdout=out))
    return pem


def make_tls(folder: Path) -> Path:
    """The broker's TLS files in ``folder``, made once: a CA (ca.p12, its certificate ca.pem) and
    the broker's key with its CA-signed certificate for 127.0.0.1 (broker.p12). Returns ca.pem."""
    ca_pem, keystore = folder / "ca.pem", folder / "broker.p12"
    if keystore.exists() and ca_pem.exists():
        return ca_pem
    shutil.rmtree(folder, ignore_errors=True)  # a start stopped halfway: make all of it again
    folder.mkdir(parents=True)
    partial = folder / "broker.p12.partial"
    ca_store = folder / "ca.p12"
    _finish(_new_key(ca_store, "ca", "Seamwatch test CA", "-ext", "bc:c"),
            _new_key(partial, "broker", "127.0.0.1"))
    # the broker's certificate request, signed by the CA for the address clients connect to
    request, ca_partial = folder / "broker.csr", ca_pem.with_suffix(".partial")
    with open(ca_partial, "wb") as out:
        _finish(_keytool("-certreq", "-alias", "broker", "-keystore", str(partial), "-file", str(request)),
                _keytool("-exportcert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), stdout=out))
    _finish(_keytool("-gencert", "-rfc", "-alias", "ca", "-keystore", str(ca_store), "-validity", "3650",
                     "-ext", "san=ip:127.0.0.1,dns:localhost", "-ext", "eku=serverAuth",
                     "-infile", str(request), "-outfile", str(folder / "chain.pem")))
    with open(folder / "chain.pem", "ab") as chain:
        chain.write(ca_partial.read_bytes())
    # the signed certificate and its CA replace the self-signed one beside the broker's key
    _finish(_keytool("-importcert", "-alias", "broker", "-file", str(folder / "chain.pem"),
                     "-keystore", str(partial)))
    partial.rename(keystore)
    ca_partial.rename(ca_pem)
    return ca_pem


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Broker:
    """One broker process over one data folder; restartable on the same ports and data.

    Clients connect without authentication on :attr:`bootstrap`, with SASL/PLAIN as
    ``SASL_USER`` / ``SASL_PASSWORD`` on :attr:`sasl_bootstrap`, with TLS on :attr:`ssl_bootstrap`
    and with both on :attr:`sasl_ssl_bootstrap`; over TLS they trust :attr:`ca_path`."""

    SASL_USER = "seamwatch"
    SASL_PASSWORD = "tap-secret"  # a test broker's only account, on loopback

    def __init__(self, workdir: str | os.PathLike[str], *, port: int | None = None,
                 controller_port: int | None = None, sasl_port: int | None = None, ssl_port: int | None = None,
                 sasl_ssl_port: int | None = None, version: str = KAFKA_VERSION,
                 die_with_parent: bool = False) -> None:
        self.die_with_parent = die_with_parent  # tests: a killed pytest must not leave a broker behind
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.sasl_port = sasl_port or free_port()
        self.ssl_port = ssl_port or free_port()
        self.sasl_ssl_port = sasl_ssl_port or free_port()
        self.version = version
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ssl_port}"

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.sasl_ssl_port}"

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM) that signed the broker's: what TLS clients give as ssl.ca.location."""
        return self.workdir / "tls" / "ca.pem"

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"

    @property
    def pid_path(self) -> Path:
        return self.workdir / "broker.pid"

    def _java(self, main: str, *args: str, log: Path | None = None, wait: bool = True):
        java = java_bin()
        if not java:
            raise BrokerError("no Java found")
        cmd = [java, "-Xms64m", f"-Xmx{HEAP}", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
               "-cp", str(libs_dir(self.version) / "*"), main, *args]
        if wait:
            return subprocess.run(cmd, capture_output=True, text=True, check=False)
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (handed to the child)
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True,
                                preexec_fn=_die_with_parent if self.die_with_parent else None)

    def format(self, cluster_id: str | None = None) -> None:
        """Write server.properties, make the TLS files and format the storage (once per data folder)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        make_tls(self.ca_path.parent)
        props = self.workdir / "server.properties"
        props.write_text(_PROPERTIES.format(port=self.port, controller_port=self.controller_port,
                                            sasl_port=self.sasl_port, ssl_port=self.ssl_port,
                                            sasl_ssl_port=self.sasl_ssl_port, sasl_user=self.SASL_USER,
                                            sasl_password=self.SASL_PASSWORD, tls=self.ca_path.parent,
                                            store_password=STORE_PASSWORD, data=self.workdir / "data"))
        if (self.workdir / "data" / "meta.properties").exists():
            return
        cluster_id = cluster_id or base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # one argument "--cluster-id=ID": a random id starts with "-" one time in 64, and as a
        # separate argument the tool would read it as an option and refuse to format
        res = self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props))
        if res.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {(res.stdout + res.stderr)[-2000:]}")

    def start(self, timeout: float = 90.0) -> None:
        fetch(self.version)
        self.format()
        if _port_open(self.port):
            raise BrokerError(f"port {self.port} is already in use")
        self.proc = self._java("kafka.Kafka", str(self.workdir / "server.properties"),
                               log=self.log_path, wait=False)
        self.pid_path.write_text(str(self.proc.pid))
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        """Wait until the broker answers metadata requests with itself as a live broker."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise BrokerError(f"the broker exited with {self.proc.returncode}; log:\n{self.log_tail()}")
            if _port_open(self.port) and _metadata_ok(self.bootstrap):
                return
            time.sleep(0.3)
        self.stop()
        raise BrokerError(f"the broker did not become ready in {timeout:.0f}s; log:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0, *, kill: bool = False) -> None:
        """Stop the broker (SIGTERM: a clean shutdown; kill=True: SIGKILL)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            self.proc = None
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        self.proc = None
        self.pid_path.unlink(missing_ok=True)

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:  # not Linux: the fixture's own cleanup still stops it
        pass


def _metadata_ok(bootstrap: str) -> bool:
    try:
        from confluent_kafka.admin import AdminClient
    except ImportError:  # running as a bare script without the venv: the port is enough
        return True
    try:
        md = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0}).list_topics(timeout=2)
        return bool(md.brokers)
    except Exception:  # noqa: BLE001 (not ready yet, whatever the reason)
        return False


# -- command line ---------------------------------------------------------------------------
def _default_dir() -> Path:
    return cache_root() / "broker"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="download the broker jars from Maven Central into the cache")
    st = sub.add_parser("start", help="start a broker in the background and print its bootstrap address")
    st.add_argument("--port", type=int, default=9092)
    st.add_argument("--dir", type=Path, default=_default_dir(), help="data folder (kept across restarts)")
    st.add_argument("--fresh", action="store_true", help="delete the data folder first")
    for name in ("stop", "status"):
        p = sub.add_parser(name)
        p.add_argument("--dir", type=Path, default=_default_dir())
    args = ap.parse_args(argv)
    try:
        if args.cmd == "fetch":
            why = missing_requirement()
            if why and "Maven" in why:
                raise BrokerError(why)
            print(fetch(quiet=False))
            return 0
        if args.cmd == "start":
            why = missing_requirement()
            if why:
                raise BrokerError(why)
            if _running_pid(args.dir):
                print(f"already running (pid {_running_pid(args.dir)}); data in {args.dir}")
                return 0
            if args.fresh:
                shutil.rmtree(args.dir, ignore_errors=True)
            b = Broker(args.dir, port=args.port, controller_port=_controller_port(args.dir))
            b.start()
            print(f"Kafka {KAFKA_VERSION} running: bootstrap {b.bootstrap} (SASL/PLAIN {Broker.SASL_USER}:"
                  f"{Broker.SASL_PASSWORD} on {b.sasl_bootstrap}; TLS on {b.ssl_bootstrap}, SASL over TLS on "
                  f"{b.sasl_ssl_bootstrap}, CA {b.ca_path}), pid {b.proc.pid}, "
                  f"log {b.log_path}. Stop it with: python scripts/kafka_broker.py stop")
            return 0
        pid = _running_pid(args.dir)
        if args.cmd == "status":
            print(f"running (pid {pid})" if pid else "not running")
            return 0 if pid else 1
        if pid:
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                if not _alive(pid):
                    break
                time.sleep(0.1)
            (args.dir / "broker.pid").unlink(missing_ok=True)
            print(f"stopped (pid {pid})")
        else:
            print("not running")
        return 0
    except BrokerError as exc:
        print(f"kafka_broker: {exc}", file=sys.stderr)
        return 2


def _controller_port(workdir: Path) -> int | None:
    """Reuse the controller port of an existing data folder (the quorum remembers it)."""
    props = workdir / "server.properties"
    if props.exists():
        for line in props.read_text().splitlines():
            if line.startswith("controller.quorum.voters="):
                return int(line.rsplit(":", 1)[1])
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def _running_pid(workdir: Path) -> int | None:
    try:
        pid = int((workdir / "broker.pid").read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


if __name__ == "__main__":
    sys.exit(main())
