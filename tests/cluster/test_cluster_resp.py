"""The bare RESP parser of the MEDIA connections (spec §24.4): complete replies, bounded."""

from __future__ import annotations

import pytest

from relay.cluster.resp import MAX_ITEMS, RespError, RespParser, command

MESSAGE = b"*3\r\n$7\r\nmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n"


def test_command_is_an_array_of_bulk_strings() -> None:
    assert command(b"PUBLISH", "ch", 7) == b"*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$1\r\n7\r\n"


def test_every_complete_reply_of_one_read_comes_back_at_once() -> None:
    parser = RespParser(64)
    replies = parser.feed(MESSAGE * 50 + b":3\r\n+OK\r\n")
    assert replies == [[b"message", b"chan", b"hello"]] * 50 + [3, b"OK"]


def test_a_reply_split_anywhere_comes_back_once_complete() -> None:
    wire = MESSAGE + b"*3\r\n$9\r\nsubscribe\r\n$4\r\nchan\r\n:1\r\n"
    for cut in range(1, len(wire)):
        parser = RespParser(64)
        first = parser.feed(wire[:cut])
        assert first + parser.feed(wire[cut:]) == [
            [b"message", b"chan", b"hello"],
            [b"subscribe", b"chan", 1],
        ]


def test_a_bulk_string_at_the_bound_passes_and_one_byte_more_is_refused() -> None:
    assert RespParser(5).feed(b"$5\r\nhello\r\n") == [b"hello"]
    with pytest.raises(RespError):
        RespParser(5).feed(b"$6\r\n")


def test_an_array_at_the_bound_passes_and_one_item_more_is_refused() -> None:
    wire = b"*%d\r\n" % MAX_ITEMS + b":1\r\n" * MAX_ITEMS
    assert RespParser(8).feed(wire) == [[1] * MAX_ITEMS]
    with pytest.raises(RespError):
        RespParser(8).feed(b"*%d\r\n" % (MAX_ITEMS + 1))


@pytest.mark.parametrize(
    "wire",
    [
        b"-ERR wrong\r\n",  # an error reply
        b"*1\r\n*1\r\n:1\r\n",  # nested arrays: never sent on these connections
        b"%1\r\n",  # a RESP3 map: these connections never say HELLO 3
        b"$-1\r\n",  # a null bulk string
        b":12x\r\n",  # not a number
        b"$3\r\nabcXY",  # a bulk string without its CRLF
        b"+" + b"x" * 40,  # a header line longer than any reply has, no CRLF yet
    ],
)
def test_what_the_engine_does_not_send_is_refused(wire: bytes) -> None:
    with pytest.raises(RespError):
        RespParser(64).feed(wire)
