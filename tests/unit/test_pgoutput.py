"""pgoutput's messages read as committed transactions: only the watched table's inserts, every
column as text, a transaction only once its Commit arrived."""

from __future__ import annotations

import struct

import pytest

from qulab.core import ConfigurationError
from qulab.core.outbox.pgoutput import Decoder, Mark, Transaction, lsn_text


def begin(xid: int) -> bytes:
    return b"B" + struct.pack(">QQI", 0x1000, 0, xid)


def commit(end: int) -> bytes:
    return b"C" + struct.pack(">bQQQ", 0, 0x1000, end, 0)


def relation(oid: int, name: str, columns: list[str]) -> bytes:
    body = struct.pack(">I", oid) + b"public\0" + name.encode() + b"\0" + b"d"
    body += struct.pack(">h", len(columns))
    for column in columns:
        body += b"\0" + column.encode() + b"\0" + struct.pack(">Ii", 25, -1)
    return b"R" + body


def insert(oid: int, values: list[str | None]) -> bytes:
    body = struct.pack(">I", oid) + b"N" + struct.pack(">h", len(values))
    for value in values:
        if value is None:
            body += b"n"
        else:
            data = value.encode()
            body += b"t" + struct.pack(">i", len(data)) + data
    return b"I" + body


def test_inserts_of_the_watched_table_come_out_per_transaction_in_commit_order() -> None:
    messages = [
        begin(7),
        relation(1, "domain_events", ["id", "payload", "trace_context"]),
        relation(2, "users", ["id"]),
        insert(2, ["u1"]),
        insert(1, ["e1", '{"n": 1}', None]),
        commit(0x2_0000_0010),
        begin(5),
        insert(1, ["e0", "{}", "é"]),
        commit(0x2_0000_0020),
    ]
    done = Decoder("domain_events").transactions(messages)
    assert [(t.xid, lsn_text(t.end_lsn)) for t in done] == [(7, "2/10"), (5, "2/20")]
    assert done[0].rows == [{"id": "e1", "payload": '{"n": 1}', "trace_context": None}]
    assert done[1].rows == [{"id": "e0", "payload": "{}", "trace_context": "é"}]


def test_a_decoder_told_its_columns_keeps_only_those_and_still_reads_the_rest_in_order() -> None:
    messages = [
        begin(3),
        relation(1, "domain_events", ["id", "status", "payload", "last_error", "sequence"]),
        insert(1, ["e1", "pending", '{"n": 1}', None, "41"]),
        insert(1, ["e2", "pending", "{}", "a long error nobody reads", "42"]),
        commit(0x30),
    ]
    [done] = Decoder("domain_events", columns=["id", "payload", "sequence"]).transactions(messages)
    assert done.rows == [
        {"id": "e1", "payload": '{"n": 1}', "sequence": "41"},
        {"id": "e2", "payload": "{}", "sequence": "42"},
    ]


def test_a_transaction_without_its_commit_is_left_for_the_next_read() -> None:
    messages = [begin(1), relation(1, "domain_events", ["id"]), insert(1, ["e1"])]
    assert Decoder("domain_events").transactions(messages) == []


def test_an_insert_before_its_relation_is_refused_in_words() -> None:
    with pytest.raises(ConfigurationError, match="before its description"):
        Decoder("domain_events").transactions([begin(1), insert(9, ["e1"]), commit(1)])


def _message(prefix: str, content: bytes, lsn: int) -> bytes:
    return (
        b"M"
        + b"\x01"
        + struct.pack(">Q", lsn)
        + prefix.encode()
        + b"\0"
        + struct.pack(">i", len(content))
        + content
    )


def test_a_logical_decoding_message_is_read_as_a_mark_inside_its_transaction() -> None:
    decoder = Decoder("domain_events")
    assert decoder.feed(begin(5)) is None
    assert decoder.inside
    assert decoder.feed(_message("qulab.outbox.mark", b"token", 0x1_0000_0010)) == Mark(
        "qulab.outbox.mark", b"token", 0x1_0000_0010
    )
    done = decoder.feed(commit(5))
    assert isinstance(done, Transaction) and done.rows == [] and not decoder.inside


def test_a_transaction_fed_in_pieces_comes_out_whole_at_its_commit() -> None:
    decoder = Decoder("domain_events")
    pieces = [relation(9, "domain_events", ["id"]), begin(1), insert(9, ["e1"])]
    assert [decoder.feed(p) for p in pieces] == [None, None, None]
    done = decoder.feed(commit(1))
    assert isinstance(done, Transaction) and done.rows == [{"id": "e1"}]
