"""Benchmarks of the collectors (run through `seamwatch bench`)."""

from __future__ import annotations

import os


def load_average() -> str:
    """The machine's load as a bench prints it beside its numbers (they mean little without it)."""
    return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
