"""Reading pgoutput's logical replication messages (protocol version 1) as committed transactions.

``pg_logical_slot_peek_binary_changes(slot, NULL, n, 'proto_version', '1', 'publication_names',
pub)`` returns one row per message. The log-tailing relay needs four of them: Begin, Relation
(the table's name and column names, sent before the first change of a table in a session),
Insert (the new row, every column as text) and Commit (the LSN just past the transaction, where
the slot may advance to once it is published). Everything else (Origin, Type, Update, Delete,
Truncate, Message) is skipped: the publication only publishes inserts.

The format is PostgreSQL's "Logical Replication Message Formats": big-endian integers,
NUL-terminated strings, tuple columns tagged ``n`` (null), ``u`` (unchanged TOAST, never in an
insert) or ``t`` (text: a 4-byte length, then the bytes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from qulab.core.errors import ConfigurationError

BEGIN = ord("B")
COMMIT = ord("C")
RELATION = ord("R")
INSERT = ord("I")

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

    def text(self) -> str:
        length = self.unpack(_INT32)
        value = self.data[self.at : self.at + length].decode()
        self.at += length
        return value


class Decoder:
    """Turns pgoutput messages into transactions of rows of one table. It remembers relations
    across calls (pgoutput sends a Relation once per decoding session, which for the SQL
    interface is once per peek, but keeping them costs nothing)."""

    def __init__(self, table: str, schema: str | None = None) -> None:
        self.table = table
        self.schema = schema
        self._columns: dict[int, list[str] | None] = {}  # relation oid -> columns (None: not ours)

    def transactions(self, messages: Iterable[bytes]) -> list[Transaction]:
        """The complete transactions among ``messages`` in commit order (the order decoding
        yields them); a transaction cut off before its Commit is left out."""
        done: list[Transaction] = []
        current: Transaction | None = None
        for message in messages:
            reader = _Reader(bytes(message))
            kind = reader.byte()
            if kind == BEGIN:
                reader.unpack(_UINT64)  # final LSN
                reader.unpack(_UINT64)  # commit time
                current = Transaction(xid=reader.unpack(_UINT32))
            elif kind == COMMIT:
                reader.byte()  # flags
                reader.unpack(_UINT64)  # commit LSN
                end = reader.unpack(_UINT64)
                if current is not None:
                    current.end_lsn = end
                    done.append(current)
                current = None
            elif kind == RELATION:
                self._relation(reader)
            elif kind == INSERT:
                row = self._insert(reader)
                if row is not None and current is not None:
                    current.rows.append(row)
        return done

    def _relation(self, reader: _Reader) -> None:
        oid = reader.unpack(_UINT32)
        schema = reader.string()
        name = reader.string()
        reader.byte()  # replica identity
        columns = []
        for _ in range(reader.unpack(_INT16)):
            reader.byte()  # flags
            columns.append(reader.string())
            reader.unpack(_UINT32)  # type oid
            reader.unpack(_INT32)  # type modifier
        ours = name == self.table and (self.schema is None or schema == self.schema)
        self._columns[oid] = columns if ours else None

    def _insert(self, reader: _Reader) -> dict[str, str | None] | None:
        oid = reader.unpack(_UINT32)
        if oid not in self._columns:
            raise ConfigurationError(f"an insert into relation {oid} came before its description")
        columns = self._columns[oid]
        if columns is None:
            return None
        if reader.byte() != ord("N"):
            raise ConfigurationError("an insert without its new tuple")
        count = reader.unpack(_INT16)
        row: dict[str, str | None] = {}
        for name in columns[:count]:
            tag = reader.byte()
            if tag == ord("t"):
                row[name] = reader.text()
            elif tag == ord("n"):
                row[name] = None
            else:  # "u" (unchanged TOAST) cannot occur in an insert; "b" needs binary mode
                raise ConfigurationError(f"column {name!r} came as {chr(tag)!r}, not as text")
        return row
