"""Stopping a Seamwatch process a test started, the way a person does: Ctrl+C."""

from __future__ import annotations

import signal
import subprocess


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
