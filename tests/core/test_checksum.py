"""Which checksum a storage answer announces, and checking it."""

from __future__ import annotations

import base64
import hashlib
import io

import google_crc32c
import pytest

from hubmagic.core.checksum import (
    ChecksumMismatchError,
    Expected,
    VerifiedSource,
    Verifier,
    expected_from_headers,
)

DATA = b"model bytes " * 1000
CRC = google_crc32c.Checksum(DATA).digest()  # type: ignore[no-untyped-call]
MD5 = hashlib.md5(DATA).digest()


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Goog-Hash": f"crc32c={b64(CRC)},md5={b64(MD5)}"}, Expected("crc32c", CRC)),
        ({"X-Goog-Hash": f"md5={b64(MD5)}, crc32c={b64(CRC)}"}, Expected("crc32c", CRC)),
        ({"X-Goog-Hash": f"md5={b64(MD5)}"}, Expected("md5", MD5)),
        ({"Content-MD5": b64(MD5)}, Expected("md5", MD5)),
        ({"X-Goog-Hash": "crc32c=not base64!"}, None),
        ({"X-Goog-Hash": "crc32c=AAAA"}, None),  # 3 bytes: not a crc32c
        ({}, None),
    ],
)
def test_the_announced_checksum(headers: dict[str, str], expected: Expected | None) -> None:
    assert expected_from_headers(headers) == expected


@pytest.mark.parametrize("expected", [Expected("crc32c", CRC), Expected("md5", MD5)])
def test_the_bytes_in_order_pass(expected: Expected) -> None:
    source = VerifiedSource(io.BytesIO(DATA), Verifier(expected, "https://x/m"))
    buffer = bytearray(1000)
    while source.readinto(buffer):
        pass
    assert source.verifier.checked


def test_other_bytes_are_refused_in_one_line() -> None:
    source = VerifiedSource(io.BytesIO(DATA[:-1] + b"?"), Verifier(Expected("crc32c", CRC), "u"))
    buffer = bytearray(4096)
    with pytest.raises(ChecksumMismatchError) as raised:
        while source.readinto(buffer):
            pass
    assert "\n" not in raised.value.message
    assert "Nothing was written to the cache" in raised.value.message
