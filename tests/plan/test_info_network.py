"""``%hub_info`` / ``hubmagic info``: certificates, proxies and Kaggle credentials in force."""

from __future__ import annotations

import json
from pathlib import Path

import certifi
import pytest

from hubmagic.cli import main
from hubmagic.core import kaggle_auth
from hubmagic.plan.info import info, settings_info
from hubmagic.ui.wording import CERTIFICATES_OFF, info_lines, settings_rows

SECRET = "pr0xy-s3cret"


def rows() -> dict[str, str]:
    return dict(settings_rows(settings_info()))


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_PROXY")
    shown = rows()
    assert shown["certificates"] == "verified (certifi)"
    assert shown["proxies"] == "none"
    assert "no proxy for" not in shown
    assert CERTIFICATES_OFF not in info_lines(info(), "cli")


def test_ca_bundle_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    assert rows()["certificates"] == f"verified with REQUESTS_CA_BUNDLE={certifi.where()}"


def test_ssl_cert_file_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", certifi.where())
    assert rows()["certificates"] == f"verified with SSL_CERT_FILE={certifi.where()}"


def test_a_missing_bundle_is_said_without_failing_the_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    report = info()
    assert report.settings.ok
    assert dict(settings_rows(report.settings.value))["certificates"] == (  # type: ignore[arg-type]
        f"REQUESTS_CA_BUNDLE={tmp_path / 'gone.pem'} names no file or folder: downloads will fail"
    )


def test_disabled_validation_is_a_row_and_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TFHUB_DISABLE_CERT_VALIDATION", "true")
    assert rows()["certificates"] == "NOT verified (TFHUB_DISABLE_CERT_VALIDATION)"
    lines = info_lines(info(), "magic")
    assert lines.count(CERTIFICATES_OFF) == 1
    assert "NOT verified" in CERTIFICATES_OFF and "REQUESTS_CA_BUNDLE" in CERTIFICATES_OFF


def test_proxies_never_show_a_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"http://alice:{SECRET}@proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp")
    shown = rows()
    assert shown["proxies"] == "HTTPS_PROXY=http://proxy.corp:3128 (with a login)"
    assert shown["no proxy for"] == "localhost,.corp (NO_PROXY)"
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    assert "HTTPS_PROXY=http://proxy.corp:3128 (with a login)" in text
    assert main(["info", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["proxies"] == "HTTPS_PROXY=http://proxy.corp:3128 (with a login)"
    assert SECRET not in text + json.dumps(data) and "alice" not in text + json.dumps(data)


def test_kaggle_credentials_row_comes_from_kaggle_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        kaggle_auth, "describe", lambda: "from KAGGLE_USERNAME/KAGGLE_KEY", raising=False
    )
    assert "  Kaggle credentials: from KAGGLE_USERNAME/KAGGLE_KEY" in info_lines(info(), "magic")
    assert settings_info().kaggle_credentials == "from KAGGLE_USERNAME/KAGGLE_KEY"
