"""Fixtures of the hostile-input suite: the OTLP receiver's (tests/collectors/otlp) and a small real disk."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.collectors.otlp.conftest import (  # noqa: F401 (fixtures and decoder choice shared with tests/collectors/otlp)
    otlp_decoder,
    pytest_generate_tests,
    receiver,
    receiver_factory,
)


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` mounted at ``path``, so "No space left on device" comes from the
    kernel. Needs root (mount); under CI a failed mount fails the test instead of skipping it."""
    path.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        reason = f"cannot mount a tmpfs (root needed): {done.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 24 MiB tmpfs."""
    with tmpfs(tmp_path / "disk", "24m") as path:
        yield path


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` but ``leave`` bytes with one file; deleting it frees the space again."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - leave, 0))
    return filler


@pytest.fixture(scope="session")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's store with hostile names (tests.support.hostile_store), built once for the pages' tests."""
    from tests.support.hostile_store import build_hostile_sample

    root = tmp_path_factory.mktemp("hostile")
    db = root / "hostile.duckdb"
    build_hostile_sample(db, root / "data")
    return db
