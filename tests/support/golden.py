"""The golden sample-shop run: sample_topology's expected findings, and where its simulated
time starts (tests/dashboard's golden and page tests)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sample_topology import expected_findings

GOLDEN_START_US = 1_772_000_000_000_000
GOLDEN_START = datetime(1970, 1, 1) + timedelta(microseconds=GOLDEN_START_US)


def load_golden() -> dict[str, Any]:
    """sample_topology's expected_findings.json."""
    return json.loads(Path(expected_findings.__file__).with_name("expected_findings.json").read_text())
