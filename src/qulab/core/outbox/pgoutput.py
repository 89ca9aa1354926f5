"""Reading pgoutput's logical replication messages (protocol version 1) as committed transactions.

A replication stream (:mod:`.wal_stream`) carries one message per XLogData frame. The
log-tailing relay needs five of them: Begin (the transaction id), Relation (the table's name and
column names, sent before the first change of a table in a session), Insert (the new row, every
column as text), Message (a logical decoding message, ``pg_logical_emit_message``: the relay's
marks) and Commit (the LSN just past the transaction, where the slot may be confirmed to once it
is published). Everything else (Origin, Type, Update, Delete, Truncate) is skipped: the
publication only publishes inserts.

The format is PostgreSQL's "Logical Replication Message Formats": big-endian integers,
NUL-terminated strings, tuple columns tagged ``n`` (null), ``u`` (unchanged TOAST, never in an
insert) or ``t`` (text: a 4-byte length, then the bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from qulab.core.errors import ConfigurationError

BEGIN = ord("B")
COMMIT = ord("C")
RELATION = ord("R")
INSERT = ord("I")
MESSAGE = ord("M")
TUPLE_NEW, TEXT, NULL = ord("N"), ord("t"), ord("n")

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_UINT32 = struct.Struct(">I")
_UINT64 = struct.Struct(">Q")


def lsn_text(lsn: int) -> str:
    """An LSN as PostgreSQL writes it (``16/B374D848``)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass
class Transaction:
    """One committed transaction: the rows it inserted into the watched table, in the order
    it wrote them, and ``end_lsn``: the slot may advance here once they are published."""

    xid: int
    end_lsn: int = 0
    rows: list[dict[str, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Mark:
    """A logical decoding message seen in the stream (``pg_logical_emit_message``): its prefix,
    its content, and the LSN it was written at."""

    prefix: str
    content: bytes
    lsn: int


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def byte(self) -> int:
        value = self.data[self.at]
        self.at += 1
        return value

    def unpack(self, shape: struct.Struct) -> int:
        (value,) = shape.unpack_from(self.data, self.at)
        self.at += shape.size
        return int(value)

    def string(self) -> str:
        end = self.data.index(b"\0", self.at)
        value = self.data[self.at : end].decode()
        self.at = end + 1
        return value


class Decoder:
    """Turns pgoutput messages, fed one at a time, into transactions of rows of one table. It
    remembers relations (pgoutput describes a table once per decoding session) and the
    transaction it is in the middle of.

    ``columns``: the ones a row keeps (all when None); the others are stepped over, not
    decoded."""

    def __init__(
        self, table: str, schema: str | None = None, *, columns: Collection[str] | None = None
    ) -> None:
        self.table = table
        self.schema = schema
        self.wanted = None if columns is None else frozenset(columns)
        # relation oid -> its columns, None for one not kept (None for the whole: not ours)
        self._columns: dict[int, list[str | None] | None] = {}
        self._current: Transaction | None = None

    @property
    def inside(self) -> bool:
        """Whether a transaction has begun and not yet committed."""
        return self._current is not None

    def feed(self, message: bytes) -> Transaction | Mark | None:
        """Read one message: a Commit gives back its whole transaction, a Message its mark."""
        kind = message[0]
        if kind == INSERT:  # most messages: read in place
            row = self._insert(message, 1)
            if row is not None and self._current is not None:
                self._current.rows.append(row)
            return None
        reader = _Reader(bytes(message))
        reader.byte()
        if kind == BEGIN:
            reader.unpack(_UINT64)  # final LSN
            reader.unpack(_UINT64)  # commit time
            self._current = Transaction(xid=reader.unpack(_UINT32))
        elif kind == COMMIT:
            reader.byte()  # flags
            reader.unpack(_UINT64)  # commit LSN
            end = reader.unpack(_UINT64)
            done, self._current = self._current, None
            if done is not None:
                done.end_lsn = end
                return done
        elif kind == RELATION:
            self._relation(reader)
        elif kind == MESSAGE:
            reader.byte()  # flags (transactional or not)
            lsn = reader.unpack(_UINT64)
            prefix = reader.string()
            length = reader.unpack(_INT32)
            return Mark(prefix, reader.data[reader.at : reader.at + length], lsn)
        return None

    def transactions(self, messages: Iterable[bytes]) -> list[Transaction]:
        """The complete transactions among ``messages`` in commit order; a transaction cut off
        before its Commit is kept for the next call."""
        return [t for t in map(self.feed, messages) if isinstance(t, Transaction)]

    def _relation(self, reader: _Reader) -> None:
        oid = reader.unpack(_UINT32)
        schema = reader.string()
        name = reader.string()
        reader.byte()  # replica identity
        columns: list[str | None] = []
        for _ in range(reader.unpack(_INT16)):
            reader.byte()  # flags
            column = reader.string()
            columns.append(column if self.wanted is None or column in self.wanted else None)
            reader.unpack(_UINT32)  # type oid
            reader.unpack(_INT32)  # type modifier
        ours = name == self.table and (self.schema is None or schema == self.schema)
        self._columns[oid] = columns if ours else None

    def _insert(self, data: bytes, at: int) -> dict[str, str | None] | None:
        """The new row of an Insert whose body starts at ``at``, read in one loop over the bytes
        (every event passes here: no helper call per column)."""
        (oid,) = _UINT32.unpack_from(data, at)
        if oid not in self._columns:
            raise ConfigurationError(f"an insert into relation {oid} came before its description")
        columns = self._columns[oid]
        if columns is None:
            return None
        if data[at + 4] != TUPLE_NEW:
            raise ConfigurationError("an insert without its new tuple")
        (count,) = _INT16.unpack_from(data, at + 5)
        at += 7
        row: dict[str, str | None] = {}
        unpack = _INT32.unpack_from
        for name in columns[:count]:
            tag = data[at]
            if tag == TEXT:
                (length,) = unpack(data, at + 1)
                at += 5 + length
                if name is not None:
                    row[name] = data[at - length : at].decode()
            elif tag == NULL:
                if name is not None:
                    row[name] = None
                at += 1
            else:  # "u" (unchanged TOAST) cannot occur in an insert; "b" needs binary mode
                raise ConfigurationError(f"column {name!r} came as {chr(tag)!r}, not as text")
        return row
