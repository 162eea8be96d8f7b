#!/usr/bin/env python3
"""Apicurio Registry 2.4.2 on 127.0.0.1, a real schema-registry server speaking the Confluent API.

The registry is a Quarkus application; Maven Central serves its modules but no runnable build,
so the first ``fetch`` assembles one with Maven into a cache outside the repository: a small
project that depends on ``io.apicurio:apicurio-registry-app`` (its UI left out), unpacks the
app's own jar as the application (it carries the registry's settings and beans) and runs the
Quarkus build. Two of the app's dependencies are not on Maven Central and are replaced by what
is: everit's JSON Schema library by ``com.github.erosb:everit-json-schema`` (the same packages),
and ``apicurio-common-app-components-config-index`` is pinned to 0.1.10.Final, whose build-time
half is served. Apicurio's parent POM names other repositories (Confluent's, JitPack): the build
asks Maven Central alone. About 210 MB of jars the first time (a few minutes), then cached.

Storage is in memory; the Confluent API is at ``/apis/ccompat/v7``. Usage::

    python scripts/schema_registry.py fetch              # build it once (scripts/test.sh does this)
    python scripts/schema_registry.py start [--port N]   # start in the background, print its URL
    python scripts/schema_registry.py status | stop

The schema-registry tests (tests/collectors/kafka/test_registry_server.py) import
:class:`Registry` from this file. Environment: SEAMWATCH_KAFKA_CACHE (default
``~/.cache/seamwatch``), JAVA_HOME.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

VERSION = "2.4.2.Final"
QUARKUS = "2.16.4.Final"
API = "/apis/ccompat/v7"
HEAP = os.environ.get("SEAMWATCH_REGISTRY_HEAP", "256m")

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>seamwatch.local</groupId>
  <artifactId>apicurio-registry-build</artifactId>
  <version>1</version>
  <properties>
    <maven.compiler.release>11</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <dependencyManagement>
    <dependencies>
      <dependency>  <!-- Apicurio's parent POM as a BOM: Quarkus {quarkus} and Apicurio's own versions -->
        <groupId>io.apicurio</groupId><artifactId>apicurio-registry</artifactId>
        <version>{version}</version><type>pom</type><scope>import</scope>
      </dependency>
      <dependency>  <!-- 0.1.18.Final's deployment half is not on Maven Central; 0.1.10.Final's is -->
        <groupId>io.apicurio</groupId><artifactId>apicurio-common-app-components-config-index</artifactId>
        <version>0.1.10.Final</version>
      </dependency>
    </dependencies>
  </dependencyManagement>
  <dependencies>
    <dependency>  <!-- the app's dependencies, not its jar: that is unpacked below as the application -->
      <groupId>io.apicurio</groupId><artifactId>apicurio-registry-app</artifactId>
      <version>{version}</version><type>pom</type>
      <exclusions>
        <exclusion><groupId>io.apicurio</groupId><artifactId>apicurio-registry-ui</artifactId></exclusion>
        <exclusion><groupId>com.github.everit-org.json-schema</groupId><artifactId>org.everit.json.schema</artifactId></exclusion>
      </exclusions>
    </dependency>
    <dependency>  <!-- everit's library as Maven Central serves it (the original is on JitPack only) -->
      <groupId>com.github.erosb</groupId><artifactId>everit-json-schema</artifactId><version>1.14.2</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId>
        <version>3.6.1</version>
        <executions><execution>
          <id>unpack-app</id><phase>generate-resources</phase><goals><goal>unpack</goal></goals>
          <configuration>
            <artifactItems><artifactItem>
              <groupId>io.apicurio</groupId><artifactId>apicurio-registry-app</artifactId>
              <version>{version}</version><type>jar</type><overWrite>true</overWrite>
              <excludes>META-INF/maven/**,META-INF/MANIFEST.MF</excludes>
            </artifactItem></artifactItems>
            <outputDirectory>${{project.build.outputDirectory}}</outputDirectory>
          </configuration>
        </execution></executions>
      </plugin>
      <plugin>
        <groupId>io.quarkus</groupId><artifactId>quarkus-maven-plugin</artifactId><version>{quarkus}</version>
        <executions><execution><goals><goal>build</goal></goals></execution></executions>
      </plugin>
    </plugins>
  </build>
</project>
"""

# Maven Central alone: the parent POM's other repositories are not reachable from every network
_SETTINGS = """<settings>
  <mirrors><mirror><id>central-only</id><mirrorOf>*</mirrorOf><url>https://repo1.maven.org/maven2</url></mirror></mirrors>
</settings>
"""


class RegistryError(RuntimeError):
    """The registry could not be built or started; the message says why."""


def cache_root() -> Path:
    return Path(os.environ.get("SEAMWATCH_KAFKA_CACHE", Path.home() / ".cache" / "seamwatch"))


def build_dir() -> Path:
    return cache_root() / f"apicurio-registry-{VERSION}"


def app_jar() -> Path:
    return build_dir() / "app" / "quarkus-run.jar"


def java_bin() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def missing_requirement() -> str | None:
    """Why a registry cannot be run here, or None when it can."""
    if not java_bin():
        return "no Java found (install Java 17+ or set JAVA_HOME)"
    if not app_jar().exists() and not shutil.which("mvn"):
        return "the registry is not built and Maven (mvn) is not installed to build it"
    return None


def fetch(*, quiet: bool = True) -> Path:
    """Build the registry from Maven Central into the cache (once); return its runnable jar."""
    if app_jar().exists():
        return app_jar()
    mvn = shutil.which("mvn")
    if not mvn:
        raise RegistryError("Maven (mvn) is needed to build the schema registry")
    work = build_dir() / "build"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "pom.xml").write_text(_POM.format(version=VERSION, quarkus=QUARKUS))
    (work / "settings.xml").write_text(_SETTINGS)
    cmd = [mvn, "-B", "-s", str(work / "settings.xml"), "-f", str(work / "pom.xml"), "package", "-DskipTests",
           "-Dquarkus.package.type=fast-jar"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout or "")[-3000:] if quiet else ""
        raise RegistryError(f"mvn could not build Apicurio Registry {VERSION}:\n{tail}")
    target = build_dir() / "app"
    shutil.rmtree(target, ignore_errors=True)
    (work / "target" / "quarkus-app").rename(target)  # atomic: a half-done build never looks complete
    shutil.rmtree(work, ignore_errors=True)
    return app_jar()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One registry process on 127.0.0.1; its schemas live as long as it does."""

    def __init__(self, workdir: str | os.PathLike[str], *, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The Confluent-compatible API's base URL, as clients take it."""
        return f"http://127.0.0.1:{self.port}{API}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    def start(self, timeout: float = 90.0) -> None:
        java = java_bin()
        if not java:
            raise RegistryError("no Java found (install Java 17+ or set JAVA_HOME)")
        jar = fetch()
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [java, f"-Xmx{HEAP}", "-XX:+UseSerialGC", f"-Dquarkus.http.port={self.port}",
                 "-Dquarkus.http.host=127.0.0.1", "-jar", str(jar)],
                cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        (self.workdir / "registry.pid").write_text(str(self._proc.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RegistryError(f"the registry exited with {self._proc.returncode}:\n{self.log_tail()}")
            if answers(self.url):
                return
            time.sleep(0.2)
        self.stop()
        raise RegistryError(f"the registry did not answer within {timeout:g} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=2) as resp:  # noqa: S310 (a local http URL)
            return resp.status == 200
    except OSError:
        return False


def _default_dir() -> Path:
    return cache_root() / "registry"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["fetch", "start", "status", "stop"])
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--dir", type=Path, default=_default_dir())
    args = parser.parse_args(argv)
    pid_file = args.dir / "registry.pid"
    try:
        if args.command == "fetch":
            print(f"Apicurio Registry {VERSION}: {fetch(quiet=False)}")
        elif args.command == "start":
            reg = Registry(args.dir, port=args.port)
            reg.start()
            reg._proc = None  # left running in the background; `stop` ends it by its pid file
            print(f"Apicurio Registry {VERSION} running: {reg.url} (log {reg.log_path}). "
                  f"Stop it with: python scripts/schema_registry.py stop")
        elif args.command == "status":
            up = answers(f"http://127.0.0.1:{args.port}{API}")
            print(f"running: http://127.0.0.1:{args.port}{API}" if up else "not running")
            return 0 if up else 1
        else:
            if pid_file.exists():
                try:
                    os.kill(int(pid_file.read_text()), signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
                pid_file.unlink()
            print("stopped")
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
