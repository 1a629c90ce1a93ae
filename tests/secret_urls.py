"""Secret-bearing URLs for the redaction tests, and checks that nothing shows them.

Offline: a signed storage URL on a dead 127.0.0.1 port (what tfhub.dev and
Kaggle downloads redirect to), and ``user:password@`` in handles and mirrors.
:data:`SECRETS` are the substrings that must appear in no output and no file.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from pathlib import Path

import pytest

PASSWORD = "hunter2-pw"
SIGNATURE = "c0ffee5e11a7ee"
CREDENTIAL = "svc-secret%40proj.iam.gserviceaccount.com%2F20260101%2Fauto%2Fstorage"
ACCESS_ID = "robot-secret%40proj.iam.gserviceaccount.com"
SECRETS = (PASSWORD, SIGNATURE, "svc-secret", "robot-secret")


def dead_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def signed_url(port: int, *, v2: bool = False) -> str:
    """A signed storage URL (V4, or V2 with ``v2``) on ``port``."""
    base = f"http://127.0.0.1:{port}/bucket/model.tar.gz"
    if v2:
        return f"{base}?GoogleAccessId={ACCESS_ID}&Expires=1767225600&Signature={SIGNATURE}%3D"
    return (
        f"{base}?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential={CREDENTIAL}"
        "&X-Goog-Date=20260101T000000Z&X-Goog-Expires=600&X-Goog-SignedHeaders=host"
        f"&X-Goog-Signature={SIGNATURE}"
    )


def with_password(url: str) -> str:
    """``url`` with ``alice:<PASSWORD>@`` before its host."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://alice:{PASSWORD}@{rest}"


def leaks(texts: Iterable[str]) -> list[str]:
    """The texts that show a secret (empty when none does)."""
    return [text for text in texts if any(secret in text for secret in SECRETS)]


def assert_no_secret(*texts: str) -> None:
    shown = leaks(texts)
    assert not shown, f"a secret is shown in: {shown}"


def assert_tree_clean(root: str | Path) -> None:
    """No file under ``root`` (names or bytes) holds a secret."""
    for path in Path(root).rglob("*"):
        assert not leaks([str(path)]), path
        if path.is_file():
            data = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, f"{secret!r} is in {path}"


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries quick and few: the secret tests fail downloads on purpose."""
    monkeypatch.setenv("HUBMAGIC_RETRY_BACKOFF", "0.01")
    monkeypatch.setenv("HUBMAGIC_RETRIES", "1")
