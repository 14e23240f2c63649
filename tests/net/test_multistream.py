"""multistream-select 1.0, sans-IO (multiformats/multistream-select)."""

from __future__ import annotations

import pytest

from fastswap.errors import NegotiationError
from fastswap.net.multistream import (
    PROTOCOL_ID,
    MultistreamDialer,
    MultistreamListener,
    encode_message,
)


def run(dialer: MultistreamDialer, listener: MultistreamListener, *, bytewise: bool = False):
    """Shuttle bytes between the two until both are done (bounded)."""
    to_listener = dialer.initiate()
    to_dialer = listener.initiate()
    for _ in range(50):
        if dialer.done and listener.done:
            return
        chunks = [to_listener[i : i + 1] for i in range(len(to_listener))] if bytewise else [
            to_listener
        ]
        out = b""
        for c in chunks:
            if not listener.done:
                out += listener.receive_data(c)
        to_listener = b""
        if to_dialer + out and not dialer.done:
            to_listener = dialer.receive_data(to_dialer + out)
        to_dialer = b""
    raise AssertionError("negotiation did not finish")


def test_wire_format() -> None:
    assert encode_message(PROTOCOL_ID) == b"\x13/multistream/1.0.0\n"
    assert encode_message("ls") == bytes.fromhex("036c730a")


@pytest.mark.parametrize("bytewise", [False, True])
def test_first_choice_selected(bytewise: bool) -> None:
    d = MultistreamDialer(["/noise", "/tls/1.0.0"])
    listener = MultistreamListener({"/noise"})
    run(d, listener, bytewise=bytewise)
    assert d.selected == listener.selected == "/noise"
    assert d.rejected == []


def test_fallback_on_na() -> None:
    d = MultistreamDialer(["/yamux/1.0.0", "/mplex/6.7.0"])
    listener = MultistreamListener({"/mplex/6.7.0": object()})
    run(d, listener)
    assert d.selected == "/mplex/6.7.0" and d.rejected == ["/yamux/1.0.0"]


def test_none_supported_is_a_negotiation_error() -> None:
    d = MultistreamDialer(["/a", "/b"])
    listener = MultistreamListener({"/c"})
    with pytest.raises(NegotiationError, match="none of"):
        run(d, listener)


def test_ls_lists_protocols() -> None:
    d = MultistreamDialer(["/b"], list_first=True)
    listener = MultistreamListener(["/a", "/b"])
    run(d, listener)
    assert d.remote_protocols == ["/a", "/b"] and d.selected == "/b"


def test_predicate_listener() -> None:
    d = MultistreamDialer(["/ipfs/bitswap/1.2.0"])
    listener = MultistreamListener(lambda p: p.startswith("/ipfs/bitswap"))
    run(d, listener)
    assert listener.selected == "/ipfs/bitswap/1.2.0"


def test_data_after_selection_is_unused_not_lost() -> None:
    listener = MultistreamListener({"/echo"})
    listener.initiate()
    out = listener.receive_data(
        encode_message(PROTOCOL_ID) + encode_message("/echo") + b"payload"
    )
    assert out == encode_message("/echo")
    assert listener.done and listener.unused == b"payload"
    d = MultistreamDialer(["/echo"])
    d.initiate()
    d.receive_data(encode_message(PROTOCOL_ID) + encode_message("/echo") + b"reply")
    assert d.selected == "/echo" and d.unused == b"reply"


@pytest.mark.parametrize(
    "data, match",
    [
        (encode_message("/multistream/2.0.0"), "multistream-select 1.0"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"a" * 200, "newline"),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", "malformed|limit"),
        (b"\x05hello", "newline"),
        (b"\x80\x10" + b"x" * 10, "limit"),
        (encode_message(PROTOCOL_ID) + b"\x03\xff\xfe\n", "UTF-8"),
    ],
)
def test_garbage_to_listener(data: bytes, match: str) -> None:
    listener = MultistreamListener({"/noise"})
    listener.initiate()
    with pytest.raises(NegotiationError, match=match):
        listener.receive_data(data)


def test_listener_attempt_limit() -> None:
    listener = MultistreamListener({"/noise"}, max_attempts=5)
    listener.initiate()
    listener.receive_data(encode_message(PROTOCOL_ID))
    for i in range(5):
        assert listener.receive_data(encode_message(f"/p{i}")) == encode_message("na")
    with pytest.raises(NegotiationError, match="proposals"):
        listener.receive_data(encode_message("/p5"))


def test_dialer_rejects_unexpected_answer() -> None:
    d = MultistreamDialer(["/noise"])
    d.initiate()
    with pytest.raises(NegotiationError, match="expected the same"):
        d.receive_data(encode_message(PROTOCOL_ID) + encode_message("/tls/1.0.0"))


def test_bad_protocol_ids_refused() -> None:
    with pytest.raises(NegotiationError):
        MultistreamDialer(["/a\nb"])
    with pytest.raises(NegotiationError):
        MultistreamDialer(["/" + "x" * 2000])
    with pytest.raises(NegotiationError):
        MultistreamDialer([])
