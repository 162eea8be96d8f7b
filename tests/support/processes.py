"""Seamwatch processes a test starts: their command line, their peak memory, and stopping them
the way a person does (Ctrl+C)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def interrupt(proc: subprocess.Popen, timeout: float) -> str:
    """Send SIGINT and wait up to ``timeout`` s for ``proc`` to stop; kill it if it does not (so no
    test leaves a process behind). Returns its standard output; its return code says whether it
    stopped on its own (a killed process's is negative)."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def seamwatch(*args: str) -> list[str]:
    """The command line of the installed `seamwatch` beside this interpreter (or its module)."""
    script = Path(sys.executable).with_name("seamwatch")
    return [str(script), *args] if script.is_file() else [sys.executable, "-c",
                                                         "from dashboard.cli import main; main()", *args]


