"""Bench children measure the installed package wherever the bench is started, and fail in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from collectors.bench import child


def test_a_child_started_beside_a_shadowing_source_tree_imports_the_installed_package(tmp_path) -> None:
    # a clone's root holds a `collectors` folder; without -P a child started there imports it
    shadow = tmp_path / "collectors"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('the source tree, not the installed package')\n")
    probe = ["-c", "import collectors.errors"]
    assert subprocess.run([sys.executable, *probe], cwd=tmp_path, capture_output=True).returncode != 0
    cmd = child.command("collectors.errors")
    assert subprocess.run(cmd, cwd=tmp_path, capture_output=True).returncode == 0


def test_a_failed_child_is_one_sentence_naming_the_run_and_its_last_error_line() -> None:
    with pytest.raises(child.BenchError) as info:
        child.run("collectors.no_such_bench", what="tap-native")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("the tap-native bench run failed: ") and "No module named" in message
