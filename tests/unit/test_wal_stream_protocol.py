"""The replication client's pieces that need no server: SCRAM-SHA-256 against RFC 7677's
example, PostgreSQL's MD5 answer, the START_REPLICATION command's quoting, where a URL points,
and which server errors mean "the slot is busy"."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from qulab.core.errors import ReplicationRefused, ServiceUnavailable
from qulab.core.outbox.wal_stream import (
    Address,
    Scram,
    _server_error,
    md5_password,
    start_command,
)

SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)


def test_scram_answers_rfc_7677s_example_and_checks_the_servers_signature() -> None:
    scram = Scram("user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert scram.first() == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    assert scram.final(SERVER_FIRST) == (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    scram.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    with pytest.raises(ServiceUnavailable, match="signature"):
        scram.verify(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")


def test_scram_refuses_a_server_nonce_that_does_not_extend_the_clients() -> None:
    scram = Scram("user", "pencil", nonce="abc")
    with pytest.raises(ServiceUnavailable, match="nonce"):
        scram.final(b"r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")


def test_scram_escapes_the_user_name() -> None:
    assert Scram("a=b,c", "x", nonce="n").first() == b"n,,n=a=3Db=2Cc,r=n"


def test_md5_answer_is_the_digest_of_the_stored_hash_and_the_salt() -> None:
    # the real exchange is proven against a server in tests/integration/test_wal_stream.py
    assert md5_password("alice", "secret", b"\x01\x02\x03\x04") == (
        b"md598a0412b9c31436fc53776e863350083"
    )
    assert md5_password("alice", "secret", b"\x04\x03\x02\x01") != (
        b"md598a0412b9c31436fc53776e863350083"
    )


def test_start_command_quotes_the_slot_and_the_publication() -> None:
    assert start_command("qulab_outbox", "qulab_outbox") == (
        "START_REPLICATION SLOT \"qulab_outbox\" LOGICAL 0/0 (proto_version '1', "
        "publication_names '\"qulab_outbox\"', messages 'true')"
    )
    odd = start_command('a"b', "it's")
    assert odd.startswith('START_REPLICATION SLOT "a""b" LOGICAL')
    assert "publication_names '\"it''s\"'" in odd


def test_an_address_comes_from_the_url_with_tls_as_it_asks() -> None:
    plain = Address.from_url(make_url("postgresql+asyncpg://qulab:pw@db.example:6543/app"))
    assert (plain.host, plain.port, plain.user, plain.password, plain.database) == (
        "db.example",
        6543,
        "qulab",
        "pw",
        "app",
    )
    required = Address.from_url(make_url("postgresql+asyncpg://u@h/d?ssl=require"))
    assert required.sslmode == "require"
    off = Address.from_url(make_url("postgresql+asyncpg://u@h/d?sslmode=disable"))
    assert off.sslmode == "disable"


def test_server_errors_keep_their_sqlstate_and_a_busy_slot_is_told_apart() -> None:
    busy = _server_error(b'SERROR\x00C55006\x00Mreplication slot "s" is active for PID 7\x00\x00')
    other = _server_error(b"SFATAL\x00C28P01\x00Mpassword authentication failed\x00\x00")
    assert isinstance(busy, ReplicationRefused) and busy.slot_busy and busy.code == "55006"
    assert not other.slot_busy and str(other) == "password authentication failed"
    assert other.code == "28P01"
