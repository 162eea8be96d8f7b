"""The file import as a source: its options, and the component that imports the files given
(collectors.sources, kind ``files``; the import itself is collectors.importer).

`seamwatch import` runs the component in the foreground (:meth:`FileImport.run`, with a
progress callback); as a runtime component it imports on a thread and can be asked to stop
between files. Either way each file goes through ``import_file``: in committed batches, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from collectors.errors import InputError, first_line
from collectors.importer import MAX_LINE_BYTES, ImportResult, import_file
from collectors.kafka.source import schema_source
from collectors.normalize.wire_format import WireDecoder
from collectors.otlp.config import parse_size
from collectors.runtime import Component, ThreadComponent
from collectors.sources import Kind, Option, UsageError, register
from collectors.status import ImportStatus
from collectors.store import Store

log = logging.getLogger(__name__)
MIN_LINE_BYTES = 1024  # a cap below this would reject ordinary lines

OPTIONS = (
    Option("", "files", kind="path", multiple=True),
    Option("--cluster", "cluster", default="default", show_default=True, env="SEAMWATCH_CLUSTER",
           help="Cluster name for record and offset lines that do not name one."),
    Option("--max-line-bytes", "max_line_bytes", metavar="SIZE", default=f"{MAX_LINE_BYTES // 2**20}MiB",
           show_default=True, env="SEAMWATCH_MAX_LINE_BYTES",
           help="Longest line imported; a longer one is rejected with its length, never held in memory."),
    Option("--schemas", "schemas", kind="dir", metavar="DIR",
           help="Folder of schemas named by schema id (42.avsc, 42.json, 42.pb) that decode wire-format "
                "record values."),
    Option("--schema-registry", "schema_registry", metavar="URL", env="SEAMWATCH_SCHEMA_REGISTRY",
           help="Schema registry that decodes wire-format record values (instead of --schemas)."),
    Option("--schema-registry-config", "schema_registry_config", kind="file", env="SEAMWATCH_SCHEMA_REGISTRY_CONFIG",
           help="Properties file of schema-registry client settings (-S wins over it)."),
    Option("-S", "schema_registry_s", multiple=True, metavar="KEY=VALUE",
           help="Schema-registry client setting, e.g. -S basic.auth.user.info=USER:PASSWORD (repeatable)."),
)


class FileImport(ThreadComponent):
    """Imports the given files one after the other, each to its end.

    A file that cannot be used at all (unreadable, empty, of no known kind) is refused in one
    sentence and the next one still imports; a store that cannot be written (a full disk)
    ends the import with its StoreError, after what was committed so far. Started as a
    component, it imports on its thread and, asked to stop, stops between files.
    """

    name = "import"

    def __init__(self, store: Store, files: Sequence[Path], *, cluster: str = "default",
                 max_line_bytes: int = MAX_LINE_BYTES, decoder: WireDecoder | None = None) -> None:
        super().__init__()
        self.store = store
        self.files = list(files)
        self.cluster = cluster
        self.max_line_bytes = max_line_bytes
        self.decoder = decoder
        self.results: list[ImportResult] = []
        self.refused: list[str] = []
        self._state = "ready"
        self._bytes = 0
        self._error: str | None = None

    def run(self, progress: Callable[[int], None] | None = None) -> FileImport:
        """Import every file in this thread; returns itself (results, refused)."""
        self._state = "importing"

        def read(n: int) -> None:
            self._bytes += n
            if progress is not None:
                progress(n)

        try:
            for path in self.files:
                if self._stop.is_set():  # between files: what a file committed stays, a re-run resumes
                    self._state = "stopped"
                    return self
                try:
                    self.results.append(import_file(self.store, path, cluster=self.cluster, progress=read,
                                                    max_line_bytes=self.max_line_bytes, decoder=self.decoder))
                except InputError as exc:
                    self.refused.append(str(exc))
        except Exception as exc:
            self._state, self._error = "failed", first_line(exc)
            raise
        self._state = "done"
        return self

    def _run(self) -> None:
        try:
            self.run()
        except Exception:  # kept in the status and in unsaved(); the thread must not die loudly
            log.exception("import failed")

    def unsaved(self) -> str | None:
        return f"the import failed: {self._error}" if self._state == "failed" else None

    def status(self) -> ImportStatus:
        results = list(self.results)
        return ImportStatus(state=self._state, files=len(self.files), files_done=len(results) + len(self.refused),
                            bytes_read=self._bytes, rows=sum(sum(r.rows.values()) for r in results),
                            rejected=sum(r.rejected for r in results), refused=len(self.refused),
                            last_error=self._error)


class ImportSource:
    name = "import"
    kind: Kind = "files"
    switch = "FILES"
    options = OPTIONS

    def build(self, store: Store, settings: Mapping[str, Any]) -> list[Component]:
        """One FileImport of the files given; nothing when there are none."""
        files = [Path(f) for f in settings["files"]]
        if not files:
            return []
        text = str(settings["max_line_bytes"])
        cap = parse_size(text, what="--max-line-bytes")
        if cap < MIN_LINE_BYTES:
            raise UsageError(f"must be at least 1KiB, not {text}", option="--max-line-bytes")
        for f in files:
            if not f.is_file():
                raise InputError(f"{f} does not exist or is not a file")
        schemas = schema_source(settings)
        return [FileImport(store, files, cluster=str(settings["cluster"]), max_line_bytes=cap,
                           decoder=None if schemas is None else WireDecoder(schemas))]


SOURCE = register(ImportSource())
