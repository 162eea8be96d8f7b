"""Bench child processes: a bench module run again in a fresh interpreter, so its memory is its own.

The child runs with ``-P``: the working directory is not put on ``sys.path``, so a bench started
from the root of a clone measures the installed package (with its native module), not the
source tree beside it. A child that fails is one sentence with its last line of output, not a
traceback.
"""

from __future__ import annotations

import subprocess
import sys

from collectors.errors import SeamwatchError


class BenchError(SeamwatchError):
    """A bench child process failed."""


def command(module: str, *args: str) -> list[str]:
    """The command line that runs ``python -m module args`` against the installed package."""
    return [sys.executable, "-P", "-m", module, *args]


def run(module: str, *args: str, what: str) -> str:
    """The child's standard output; BenchError naming ``what`` and its last error line when it fails."""
    out = subprocess.run(command(module, *args), capture_output=True, text=True, check=False)
    if out.returncode != 0:
        lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
        last = lines[-1].strip() if lines else f"exit status {out.returncode}"
        raise BenchError(f"the {what} bench run failed: {last}")
    return out.stdout
