"""Stream an event file's TFRecords with bounded reads: find its last graph without decoding the other Events."""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.event_pb2 import Event

from inspector.atomic import file_kind
from inspector.errors import InspectorError
from inspector.tb.events import masked_crc32c

# No writer makes a record this big (protobuf itself stops at 2 GiB); a
# larger length is damage, or a file made to make the reader allocate it.
MAX_RECORD_BYTES = 2 << 30
# Bytes read per system call while walking records; a record larger than this
# is walked field by field, never read whole unless it is the graph.
CHUNK_BYTES = 1 << 20
# Event fields (tensorboard/compat/proto/event.proto): 3..9 are the oneof
# `what`, whose last occurrence on the wire is what a parser keeps.
GRAPH_DEF, META_GRAPH_DEF = 4, 9
_WHAT_FIRST, _WHAT_LAST = 3, 9

_HEADER = struct.Struct("<QI")
_FOOTER = 4
_FRAME = _HEADER.size + _FOOTER
_U32 = struct.Struct("<I")
# A field's tag and length are two varints of at most 10 bytes each.
_HEAD_BYTES = 20


@dataclass(frozen=True)
class GraphRecord:
    """Where a graph is in an event file: its record's index, byte offset and payload length, and which field."""

    index: int
    offset: int
    length: int
    field: int  # GRAPH_DEF or META_GRAPH_DEF

    def to_json(self) -> dict:
        return {"index": self.index, "offset": self.offset, "length": self.length, "field": self.field}


@dataclass(frozen=True)
class Scan:
    """One pass over an event file, from ``start`` up to the size it had when opened."""

    end: int  # offset just past the last complete record: where the next pass resumes
    records: int  # complete records before ``end``, counted from the file's start
    bytes_read: int  # what this pass read from the file
    graph: GraphRecord | None  # the last graph record before ``end``
    damage: str | None  # why reading stopped early: a record that can never become valid
    pending: str | None  # the file ends inside a graph record: a writer may be mid-append (other cut records are not worth a word)

    def to_json(self) -> dict:
        return {
            "end": self.end,
            "records": self.records,
            "bytes_read": self.bytes_read,
            "graph": None if self.graph is None else self.graph.to_json(),
            "damage": self.damage,
            "pending": self.pending,
        }


class _Malformed(Exception):
    """A payload whose top-level fields are not protobuf wire format."""


def regular_file_stat(path: Path) -> os.stat_result:
    """``os.stat(path)`` (links followed, as TensorBoard does); InspectorError unless it is a regular file.

    A FIFO or device named like an event file would block or never end a read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InspectorError(f"{path}: no such event file; check the path") from None
    except OSError as exc:
        raise InspectorError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None
    _require_regular(path, info)
    return info


def open_event_file(path: Path) -> tuple[int, os.stat_result]:
    """A read-only descriptor on the regular file ``path`` and its ``fstat``; the caller closes it.

    Checked before opening and again on the descriptor, so a file swapped for a
    FIFO in between is refused instead of blocking the reader.
    """
    regular_file_stat(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not os.path.islink(path):
        # It was no link a moment ago: one now is a swap, refused.
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise InspectorError(f"{path}: no such event file; check the path") from None
    except OSError as exc:
        raise InspectorError(f"{path}: cannot read ({exc.strerror}); check the file and its permissions") from None
    try:
        info = os.fstat(fd)
        _require_regular(path, info)
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def scan_records(
    fd: int,
    path: Path,
    *,
    size: int,
    start: int = 0,
    records: int = 0,
    graph: GraphRecord | None = None,
) -> Scan:
    """Walk the records of ``fd`` from ``start`` (a record boundary) to ``size``; note the last graph.

    ``records`` and ``graph`` carry on from an earlier pass that ended at
    ``start``. Each length CRC is checked; payloads are only tag-scanned
    (their data CRC is checked by :func:`read_event` when one is decoded).
    Nothing past ``size`` is read, so a file still growing is read again later.
    """
    walker = _Walker(fd, size)
    pos, index = start, records
    damage = pending = None
    while pos < size:
        pos, index, graph = _ordinary_records(walker, pos, index, graph)
        if pos >= size:
            break
        # One record the loop above leaves alone: cut, damaged, big, or unusual.
        if size - pos < _HEADER.size:
            break  # a header still being written
        header = walker.get(pos, _HEADER.size)
        length, length_crc = _HEADER.unpack(header)
        if masked_crc32c(header[:8]) != length_crc:
            damage = _corrupt(path, index, pos, "the length CRC does not match")
            break
        if length > MAX_RECORD_BYTES:
            damage = _corrupt(path, index, pos, f"it claims {length:,} bytes, more than the {MAX_RECORD_BYTES:,} a record may hold")
            break
        body = pos + _HEADER.size
        available = min(length, size - body)
        complete = available == length
        try:
            what, what_length = walker.last_what(body, available, complete=complete)
        except _Malformed:
            damage = _corrupt(path, index, pos, "the record is not an Event")
            break
        if size - body < length + _FOOTER:
            # A record still being written. Worth a word only if it is a graph:
            # a training job's summaries are cut like this all the time.
            if what in (GRAPH_DEF, META_GRAPH_DEF):
                pending = _ends_inside(path, index, have=size - pos, want=length + _FRAME)
            break
        if what in (GRAPH_DEF, META_GRAPH_DEF) and what_length:
            graph = GraphRecord(index=index, offset=pos, length=length, field=what)
        pos = body + length + _FOOTER
        index += 1
    return Scan(end=pos, records=index, bytes_read=walker.bytes_read, graph=graph, damage=damage, pending=pending)


def _ordinary_records(walker: _Walker, pos: int, index: int, graph: GraphRecord | None) -> tuple[int, int, GraphRecord | None]:
    """Walk the whole, well-formed records already in ``walker``'s buffer from ``pos``; stop at any other.

    The same checks as the general step in :func:`scan_records`, inlined for
    the common case (a training log has millions of small records): whatever
    this loop is unsure of, it leaves to that step.
    """
    buf, base = walker.buf, walker.base
    off, limit = pos - base, len(walker.buf)
    if off < 0:
        return pos, index, graph
    unpack, masked = _HEADER.unpack_from, masked_crc32c
    try:
        while off + _HEADER.size <= limit:
            length, length_crc = unpack(buf, off)
            if masked(buf[off: off + 8]) != length_crc:
                break
            body = off + _HEADER.size
            end = body + length
            if end + _FOOTER > limit:
                break
            p, what, what_length = body, 0, 0
            while p < end:
                tag = buf[p]
                if tag >= 0x80 or tag < 8:
                    break  # a field number over 15, or 0: the general step decides
                p += 1
                wire = tag & 7
                if wire == 1:
                    p += 8
                elif wire == 0:
                    while buf[p] & 0x80:
                        p += 1
                    p += 1
                elif wire == 2:
                    n = buf[p]
                    if n < 0x80:
                        p += 1
                    else:
                        n, p = _varint(buf, p, end)
                    if _WHAT_FIRST <= tag >> 3 <= _WHAT_LAST:
                        what, what_length = tag >> 3, n
                    p += n
                elif wire == 5:
                    p += 4
                else:
                    break
            if p != end:
                break
            if what_length and (what == GRAPH_DEF or what == META_GRAPH_DEF):
                graph = GraphRecord(index=index, offset=base + off, length=length, field=what)
            off = end + _FOOTER
            index += 1
    except (IndexError, _Malformed):
        pass  # this record goes to the general step
    return base + off, index, graph


def read_event(fd: int, path: Path, record: GraphRecord) -> Event:
    """The Event of ``record`` (found by :func:`scan_records` on this file), its data CRC checked."""
    want = record.length + _FOOTER
    data = _pread_all(fd, want, record.offset + _HEADER.size)
    if len(data) < want:
        raise InspectorError(f"{path}: record {record.index} was cut short since the file was read; reload the page")
    payload, footer = data[: record.length], data[record.length:]
    if masked_crc32c(payload) != _U32.unpack(footer)[0]:
        raise InspectorError(
            f"{path}: record {record.index} at byte {record.offset} is corrupt (the data CRC does not match); write the run again"
        )
    try:
        return Event.FromString(payload)
    except DecodeError:
        raise InspectorError(f"{path}: record {record.index} at byte {record.offset} is corrupt (the record is not an Event); write the run again") from None


class _Walker:
    """Reads ``fd`` in chunks no bigger than CHUNK_BYTES, counting the bytes it read."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        self.buf = b""
        self.base = 0  # file offset of buf[0]
        self.bytes_read = 0

    def get(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``pos`` (fewer at the end of the file); ``n`` is small."""
        off = pos - self.base
        if off < 0 or off + n > len(self.buf):
            self._fill(pos)
            off = 0
        return self.buf[off: off + n]

    def _fill(self, pos: int) -> None:
        want = min(CHUNK_BYTES, self._size - pos)
        self.buf = _pread_all(self._fd, want, pos) if want > 0 else b""
        self.base = pos
        self.bytes_read += len(self.buf)

    def last_what(self, start: int, length: int, *, complete: bool) -> tuple[int, int]:
        """The last field of the oneof ``what`` in the payload at ``start`` and its length; (0, 0) if it has none.

        ``length`` is how much of the payload the file holds and ``complete``
        whether that is all of it; of an incomplete payload, the fields so far.
        """
        off = start - self.base
        if off < 0 or off + length > len(self.buf):
            if length + _FOOTER > CHUNK_BYTES:
                return self._last_what_large(start, length, complete)
            self._fill(start - _HEADER.size)
            off = _HEADER.size
        return _last_what(self.buf, off, off + length, complete)

    def _last_what_large(self, start: int, length: int, complete: bool) -> tuple[int, int]:
        # Field by field through a payload bigger than a chunk: each field's
        # tag and length are read, its body skipped (a big field is one jump).
        end = start + length

        def head_at(pos: int) -> tuple[bytes, int, int]:
            head = self.get(pos, min(_HEAD_BYTES, end - pos))
            return head, 0, len(head)

        return _last_of_what(head_at, start, end, complete)


def _last_what(buf: bytes, pos: int, end: int, complete: bool) -> tuple[int, int]:
    # The common case, a small record in memory.
    return _last_of_what(lambda at: (buf, at, end), pos, end, complete)


def _last_of_what(
    head_at: Callable[[int], tuple[bytes, int, int]], pos: int, end: int, complete: bool
) -> tuple[int, int]:
    """The last ``what`` field among the payload's fields from ``pos`` to ``end``; ``head_at(pos)`` gives (bytes, offset, limit) holding the field's head."""
    what = what_length = 0
    while pos < end:
        buf, at, limit = head_at(pos)
        try:
            field, wire, used, body = _field_head(buf, at, limit)
        except _Malformed:
            if complete:
                raise
            break
        if wire == 2 and _WHAT_FIRST <= field <= _WHAT_LAST:
            what, what_length = field, body
        pos += used + body
        if pos > end and complete:
            raise _Malformed
    return what, what_length


def _field_head(buf: bytes, pos: int, end: int) -> tuple[int, int, int, int]:
    """(field number, wire type, bytes the tag (and length) take, bytes the body takes) of the field at ``pos``."""
    start = pos
    tag, pos = _varint(buf, pos, end)
    field, wire = tag >> 3, tag & 7
    if field == 0:
        raise _Malformed
    if wire == 0:
        _, after = _varint(buf, pos, end)
        return field, wire, pos - start, after - pos
    if wire == 1:
        return field, wire, pos - start, 8
    if wire == 2:
        n, pos = _varint(buf, pos, end)
        return field, wire, pos - start, n
    if wire == 5:
        return field, wire, pos - start, 4
    raise _Malformed  # groups (3, 4) and 6, 7: no Event field is one


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _pread_all(fd: int, n: int, offset: int) -> bytes:
    # pread may return less than asked (signals, some file systems); an empty read is the end.
    first = os.pread(fd, n, offset)
    if len(first) == n or not first:
        return first
    parts, got = [first], len(first)
    while got < n:
        more = os.pread(fd, n - got, offset + got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _require_regular(path: Path, info: os.stat_result) -> None:
    if stat.S_ISREG(info.st_mode):
        return
    kind = file_kind(info.st_mode) or "a special file"
    raise InspectorError(f"{path}: is {kind}, not a regular file, so it is not read as an event file; remove it or rename it")


def _corrupt(path: Path, index: int, offset: int, problem: str) -> str:
    return f"{path}: record {index} at byte {offset} is corrupt ({problem}); write the run again"


def _ends_inside(path: Path, index: int, *, have: int, want: int) -> str:
    return (
        f"{path}: the file ends inside record {index}, a graph ({have:,} of its {want:,} bytes are there); "
        "if a writer is still appending it shows once complete, else write the run again"
    )


__all__ = [
    "GraphRecord",
    "Scan",
    "scan_records",
    "read_event",
    "open_event_file",
    "regular_file_stat",
    "MAX_RECORD_BYTES",
    "CHUNK_BYTES",
    "GRAPH_DEF",
    "META_GRAPH_DEF",
]
