"""fastswap.varint: the one unsigned-varint implementation the pure-Python parsers share
(multiformats unsigned-varint: LEB128, minimal, at most 9 bytes)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastswap import varint
from fastswap.errors import TruncatedVarintError, VarintError


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_round_trip_and_length(n: int) -> None:
    data = varint.encode(n)
    assert len(data) == max(1, (n.bit_length() + 6) // 7)
    assert varint.decode(data + b"\xff", 0) == (n, len(data))
    assert varint.decode(b"\x00" + data, 1) == (n, len(data) + 1)


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_every_cut_of_a_varint_is_truncated_not_malformed(n: int) -> None:
    data = varint.encode(n)
    for cut in range(len(data)):
        with pytest.raises(TruncatedVarintError):
            varint.decode(data[:cut])


def test_refusals_name_the_reason() -> None:
    with pytest.raises(VarintError, match="minimally"):
        varint.decode(b"\x80\x00")
    with pytest.raises(VarintError, match="longer than 9 bytes") as e:
        varint.decode(b"\xff" * 9 + b"\x01")
    assert not isinstance(e.value, TruncatedVarintError)
    with pytest.raises(VarintError, match="negative"):
        varint.encode(-1)
    with pytest.raises(VarintError, match="63-bit"):
        varint.encode(2**63)


def test_cid_parsing_reports_a_bad_varint_as_a_cid_error() -> None:
    from fastswap.cid import decode_cid
    from fastswap.errors import CIDError

    with pytest.raises(CIDError, match="minimally"):
        decode_cid(b"\x01\x80\x00\x12\x00")
