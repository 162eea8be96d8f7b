"""Lines of a file (plain or gzip) read in bounded chunks, so one huge line never sits in memory.

A 2 GiB line inside a 2 MB gzip file once took 4.9 GB of RSS (issue 10, case 13): iterating a
file object builds each line whole. Here a line longer than the cap is cut: its first bytes are
kept for the error's excerpt and the rest is skipped as it streams past.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from collectors.model import EXCERPT_BYTES

CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Line:
    number: int
    data: bytes  # the whole line; for an over-long one, its first EXCERPT_BYTES
    length: int  # bytes of the line as it is in the file (without the newline)

    @property
    def over_long(self) -> bool:
        return self.length > len(self.data)


def open_maybe_gzip(path: Path) -> IO[bytes]:
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def read_lines(path: Path, *, max_line_bytes: int,
               progress: Callable[[int], None] | None = None) -> Iterator[Line]:
    """Every non-blank line of the file. A line over ``max_line_bytes`` comes back cut
    (:attr:`Line.over_long`). Raises OSError, EOFError or gzip.BadGzipFile as the file does."""
    with open_maybe_gzip(path) as fh:
        number = 0
        parts: list[bytes] = []  # the current line's pieces, while it is within the cap
        held = 0  # bytes in parts
        length = 0  # bytes of the current line so far, held or not
        raw_read = _raw_position(fh)
        while True:
            chunk = fh.read(CHUNK_BYTES)
            if progress is not None:
                raw_read = _report(fh, raw_read, len(chunk), progress)
            if not chunk:
                break
            start = 0
            while True:
                end = chunk.find(b"\n", start)
                piece = chunk[start:] if end < 0 else chunk[start:end]
                length += len(piece)
                if length <= max_line_bytes:
                    parts.append(piece)
                    held += len(piece)
                elif held > EXCERPT_BYTES:  # just went over the cap: keep the excerpt's bytes only
                    parts = [b"".join(parts)[:EXCERPT_BYTES]]
                    held = EXCERPT_BYTES
                elif held < EXCERPT_BYTES:
                    parts.append(piece[: EXCERPT_BYTES - held])
                    held += len(parts[-1])
                if end < 0:
                    break
                number += 1
                if (line := _finished(number, parts, length, max_line_bytes)) is not None:
                    yield line
                parts, held, length = [], 0, 0
                start = end + 1
        if length or parts:  # a last line without a newline
            number += 1
            if (line := _finished(number, parts, length, max_line_bytes)) is not None:
                yield line


def _finished(number: int, parts: list[bytes], length: int, max_line_bytes: int) -> Line | None:
    """Line ``number`` as read: an over-long one as its excerpt and length; a blank one is None."""
    data = b"".join(parts)
    if length > max_line_bytes:
        return Line(number, data[:EXCERPT_BYTES], length)
    return Line(number, data, length) if data.strip() else None


def _raw_position(fh: IO[bytes]) -> int:
    raw = getattr(fh, "fileobj", None)  # gzip: progress counts compressed bytes, as the file's size does
    return raw.tell() if raw is not None else 0


def _report(fh: IO[bytes], last: int, chunk_len: int, progress: Callable[[int], None]) -> int:
    raw = getattr(fh, "fileobj", None)
    if raw is None:
        progress(chunk_len)
        return last
    now = raw.tell()
    progress(now - last)
    return now
