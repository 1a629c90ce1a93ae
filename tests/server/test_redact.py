"""Tests of hubmagic.server.redact: secrets out of the hub server's log lines."""

from __future__ import annotations

import pytest

from hubmagic.server.redact import is_secret_name, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '"GET /m/1?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p.iam&'
            'X-Goog-Signature=0ab1 HTTP/1.1" 200',
            '"GET /m/1?X-Goog-Algorithm=REDACTED&X-Goog-Credential=REDACTED&'
            'X-Goog-Signature=REDACTED HTTP/1.1" 200',
        ),
        (
            "/o?GoogleAccessId=a@b&Expires=17&Signature=c%2Bd%3D",
            "/o?GoogleAccessId=REDACTED&Expires=REDACTED&Signature=REDACTED",
        ),
        ("/m?tf-hub-format=compressed", "/m?tf-hub-format=compressed"),
        ("/m?token=abc&tf-hub-format=compressed", "/m?token=REDACTED&tf-hub-format=compressed"),
        ("/m?a=1;key=abc", "/m?a=1;key=REDACTED"),
        ("/m?access_token=abc==#frag", "/m?access_token=REDACTED#frag"),
        (
            "/m?API_KEY=abc&apiKey=d&client_secret=e",
            "/m?API_KEY=REDACTED&apiKey=REDACTED&client_secret=REDACTED",
        ),
        ("/m?X%2DGoog%2DSignature=abc", "/m?X%2DGoog%2DSignature=REDACTED"),
        ("/m?sig=abc&se=2026&sv=1", "/m?sig=REDACTED&se=2026&sv=1"),
        ("/m?token=", "/m?token="),
        (
            '"GET /m?X-Amz-Security-Token=abc HTTP/1.1" 200',
            '"GET /m?X-Amz-Security-Token=REDACTED HTTP/1.1" 200',
        ),
        ("GET http://user:hunter2@host:1/m HTTP/1.1", "GET http://REDACTED@host:1/m HTTP/1.1"),
        ("https://ghp_abc@github.com/x", "https://REDACTED@github.com/x"),
        ("error: Authorization: Bearer abc.def", "error: Authorization: REDACTED"),
        ("no secret at all: /google/tiny/1", "no secret at all: /google/tiny/1"),
        ("/a@b/c?d=e", "/a@b/c?d=e"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected
    assert redact(expected) == expected  # idempotent


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("X-Goog-Date", True),
        ("x-amz-credential", True),
        ("Refresh_Token", True),
        ("password", True),
        ("tf-hub-format", False),
        ("range", False),
        ("version", False),
    ],
)
def test_is_secret_name(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret
