"""Event readers for ``engage run``, picked by file extension.

========================  =====================================================
extension                 format
========================  =====================================================
``.jsonl`` ``.ndjson``    one JSON object per line (also ``.json`` and ``-``,
                          standard input)
``.msgpack`` ``.mpk``     a stream of msgpack maps, one per event
``.csv``                  a header row; columns ``contact``, ``type``, ``at``,
                          ``id``, ``data`` (a JSON object) and ``data.NAME``
========================  =====================================================

Any of them may end in ``.gz``. The "line" of a record is its line in a text file
(1-based, header included for CSV) or its ordinal in a msgpack stream, so that a
dead-letter entry points at something a person can find.

Why the readers never raise on content: a bad record must not stop a stream. A line
that is not JSON, a line over the size limit, a NaN in a JSON text, a CSV cell that is
not valid JSON where JSON is required — each becomes a :class:`BadRecord` and the
reader carries on with the next line. The one exception is a msgpack stream that
stops decoding: msgpack has no line breaks to resynchronise on, so the rest of the
stream is reported as one bad record.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import sys
from collections.abc import Iterator
from typing import IO, Any, Final

import msgpack

#: The largest accepted event line or msgpack record, in bytes (hostile input).
MAX_RECORD_BYTES: Final = 1 << 20

_JSON_SUFFIXES: Final = (".jsonl", ".ndjson", ".json", ".jsonlines")
_MSGPACK_SUFFIXES: Final = (".msgpack", ".mpk", ".msgpackl")
_CSV_SUFFIXES: Final = (".csv",)


class BadRecord:
    """A record that could not be decoded, with the reason and the raw text kept."""

    __slots__ = ("raw", "reason")

    def __init__(self, reason: str, raw: Any) -> None:
        self.reason = reason
        self.raw = raw

    def __repr__(self) -> str:
        return f"BadRecord({self.reason!r})"


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


_decode_json = json.JSONDecoder(parse_constant=_no_constants).decode


def decode_json_line(line: bytes) -> Any:
    """One JSON Lines record, or a :class:`BadRecord` saying why not."""
    if len(line) > MAX_RECORD_BYTES:
        return BadRecord(
            f"record of {len(line):,} bytes is over the {MAX_RECORD_BYTES:,}-byte limit",
            line[:200].decode("utf-8", "replace") + "...",
        )
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRecord(f"not UTF-8 text ({exc.reason} at byte {exc.start})", _raw(line))
    try:
        return _decode_json(text)
    except ValueError as exc:
        return BadRecord(f"not JSON: {exc}", text.rstrip("\r\n"))
    except RecursionError:
        return BadRecord("not JSON: nested too deeply", text[:200])


def _raw(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r\n")


class EventSource:
    """An events file opened for reading; iterate for ``(line, record)`` pairs.

    ``bytes_read`` and ``size`` let a progress bar say how far along the file is.
    """

    def __init__(self, path: str, kind: str, handle: IO[bytes], size: int | None) -> None:
        self.path = path
        self.kind = kind
        self.size = size
        self.bytes_read = 0
        self._handle = handle

    @property
    def name(self) -> str:
        """The file name as messages show it (without folders)."""
        return "<stdin>" if self.path == "-" else os.path.basename(self.path)

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        if self.kind == "msgpack":
            return self._msgpack()
        if self.kind == "csv":
            return self._csv()
        return self._jsonl()

    def close(self) -> None:
        if self._handle is not sys.stdin.buffer:
            self._handle.close()

    def __enter__(self) -> EventSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _position(self) -> int:
        raw = getattr(self._handle, "fileobj", None) or self._handle
        try:
            return int(raw.tell())
        except (OSError, ValueError):
            return self.bytes_read

    def _jsonl(self) -> Iterator[tuple[int, Any]]:
        number = 0
        for line in self._handle:
            number += 1
            self.bytes_read += len(line)
            if not line.strip():
                continue
            yield number, decode_json_line(line)

    def _msgpack(self) -> Iterator[tuple[int, Any]]:
        unpacker = msgpack.Unpacker(
            self._handle,
            raw=False,
            strict_map_key=False,
            timestamp=3,
            max_buffer_size=MAX_RECORD_BYTES * 4,
        )
        number = 0
        while True:
            number += 1
            try:
                record = unpacker.unpack()
            except msgpack.OutOfData:
                return
            except Exception as exc:  # msgpack raises many kinds on hostile bytes
                yield (
                    number,
                    BadRecord(
                        f"msgpack stream unreadable from here on ({type(exc).__name__}: {exc}); "
                        "the rest of the file was not read",
                        None,
                    ),
                )
                return
            self.bytes_read = self._position()
            yield number, record

    def _csv(self) -> Iterator[tuple[int, Any]]:
        text = io.TextIOWrapper(self._handle, encoding="utf-8", errors="strict", newline="")
        try:
            yield from self._csv_rows(text)
        finally:
            # The handle belongs to this source (close() closes it), not to the wrapper.
            text.detach()

    def _csv_rows(self, text: IO[str]) -> Iterator[tuple[int, Any]]:
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            yield 1, BadRecord(f"unreadable CSV header: {exc}", None)
            return
        columns = [name.strip() for name in header]
        missing = {"contact", "type"} - set(columns)
        if missing:
            yield (
                1,
                BadRecord(
                    "CSV header lacks "
                    + " and ".join(sorted(missing))
                    + " (columns: contact, type, at, id, data, data.NAME)",
                    ",".join(header),
                ),
            )
            return
        number = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as exc:
                number = reader.line_num
                yield number, BadRecord(f"unreadable CSV row: {exc}", None)
                if isinstance(exc, UnicodeDecodeError):
                    return
                continue
            number = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            self.bytes_read = self._position()
            yield number, csv_record(columns, row)


def csv_record(columns: list[str], row: list[str]) -> Any:
    """One CSV row as an event record.

    Why cells are read as JSON scalars: CSV has no types, and a declared number field
    must receive a number. A ``data.NAME`` cell that reads as a JSON number, ``true``,
    ``false`` or a JSON string in double quotes is taken as that value; any other text
    is text. An empty cell means "not given".
    """
    if len(row) > len(columns):
        return BadRecord(
            f"row has {len(row)} cells but the header names {len(columns)} columns", row
        )
    record: dict[str, Any] = {}
    data: dict[str, Any] = {}
    for name, cell in zip(columns, row, strict=False):
        if cell == "":
            continue
        if name == "data":
            try:
                value = _decode_json(cell)
            except (ValueError, RecursionError) as exc:
                return BadRecord(f"column data is not a JSON object: {exc}", row)
            if not isinstance(value, dict):
                return BadRecord("column data is not a JSON object", row)
            data.update(value)
        elif name.startswith("data."):
            data[name[5:]] = csv_scalar(cell)
        else:
            record[name] = cell
    if data:
        record["data"] = data
    return record


def csv_scalar(cell: str) -> Any:
    """A CSV cell as a value: JSON numbers, booleans and quoted strings; else text."""
    first = cell[:1]
    if first in '-0123456789"' or cell in ("true", "false"):
        try:
            value = _decode_json(cell)
        except ValueError:
            return cell
        if isinstance(value, bool | int | float | str):
            return value
    return cell


def format_of(path: str) -> str:
    """``jsonl``, ``msgpack`` or ``csv`` from the file name (``.gz`` ignored).

    Raises:
        ValueError: the extension is not one engage reads.
    """
    if path == "-":
        return "jsonl"
    name = path.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(_JSON_SUFFIXES):
        return "jsonl"
    if name.endswith(_MSGPACK_SUFFIXES):
        return "msgpack"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    known = ", ".join(_JSON_SUFFIXES + _MSGPACK_SUFFIXES + _CSV_SUFFIXES)
    raise ValueError(f"{path}: unknown events format (known extensions: {known}, and .gz)")


def open_events(path: str) -> EventSource:
    """Open an events file (``-`` is standard input, JSON Lines).

    Raises:
        ValueError: unknown extension.
        OSError: the file cannot be opened.
    """
    kind = format_of(path)
    if path == "-":
        return EventSource(path, kind, sys.stdin.buffer, None)
    size = os.path.getsize(path)
    # Closed by EventSource.close.
    handle: IO[bytes] = (
        gzip.open(path, "rb")  # type: ignore[assignment]  # noqa: SIM115
        if path.lower().endswith(".gz")
        else open(path, "rb")  # noqa: SIM115
    )
    return EventSource(path, kind, handle, size)
