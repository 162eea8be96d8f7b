"""The file import as a source: built from its settings, run in the foreground by `import`, or
started and stopped like any runtime component (docs/architecture.md#adding-a-source)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collectors.errors import InputError
from collectors.import_source import SOURCE, FileImport
from collectors.runtime import Runtime
from collectors.sources import UsageError, settings_of

GOLDEN = Path(__file__).parent / "normalize" / "golden"


def _build(store, **given):
    return SOURCE.build(store, settings_of(SOURCE, given))


def test_it_builds_one_import_of_the_files_given_and_nothing_without_files(store) -> None:
    assert _build(store) == []
    (built,) = _build(store, files=(GOLDEN / "otlp_rich.jsonl",), cluster="c1")
    assert isinstance(built, FileImport) and built.cluster == "c1" and built.max_line_bytes == 64 << 20
    assert built.status().describe() == "ready · 0 of 1 file · 0 B read · 0 rows"


def test_its_settings_are_checked_before_anything_is_read(store, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist or is not a file"):
        _build(store, files=(tmp_path / "nope.jsonl",))
    with pytest.raises(UsageError, match="at least 1KiB") as refused:
        _build(store, files=(GOLDEN / "otlp_rich.jsonl",), max_line_bytes="100")
    assert refused.value.option == "--max-line-bytes"
    with pytest.raises(UsageError, match="not both"):
        _build(store, files=(GOLDEN / "otlp_rich.jsonl",), schemas=str(tmp_path), schema_registry="http://x")


def test_started_as_a_component_it_imports_to_the_end_and_says_so(store, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    (component,) = _build(store, files=(empty, GOLDEN / "otlp_rich.jsonl"))
    runtime = Runtime([component])
    runtime.start()
    deadline = time.monotonic() + 30
    while component.status().state not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.stop() == []  # nothing unsaved
    status = component.status()
    assert (status.state, status.files_done, status.rows, status.rejected, status.refused) == ("done", 2, 7, 4, 1)
    assert status.bytes_read == (GOLDEN / "otlp_rich.jsonl").stat().st_size
    assert "done · 2 of 2 files" in status.describe() and "1 file refused" in status.describe()
    assert component.refused == [f"{empty} is empty"]
    assert store.counts()["spans"] == 7


def test_a_failed_import_is_reported_as_unsaved(store, tmp_path: Path) -> None:
    (component,) = _build(store, files=(GOLDEN / "otlp_rich.jsonl",))
    store.close()  # the store cannot be written any more
    component.start()
    deadline = time.monotonic() + 30
    while component.status().state in ("ready", "importing") and time.monotonic() < deadline:
        time.sleep(0.05)
    component.stop()
    assert component.status().state == "failed"
    assert component.unsaved().startswith("the import failed: ")


def test_asked_to_stop_it_finishes_the_file_in_hand_and_imports_no_other(store) -> None:
    (component,) = _build(store, files=(GOLDEN / "otlp_rich.jsonl", GOLDEN / "records_rich.jsonl"))
    component.run(progress=lambda n: component.stop())  # asked while the first file is read
    status = component.status()
    assert (status.state, status.files_done, status.rows) == ("stopped", 1, 7)
    assert store.counts()["spans"] == 7 and store.counts()["records"] == 0
    assert component.unsaved() is None  # what it imported is committed; a re-run imports the rest
