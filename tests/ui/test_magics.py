"""The magics through a real IPython shell, against the local hub server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError

import hubmagic
from hubmagic.core import session
from hubmagic.core.handle import cache_key
from hubmagic.plan import SetupPlan
from hubmagic.server import HubServer
from tests.gcs_fixtures import upload_folder
from tests.shell_fixtures import Shell


def tiny(server: HubServer, version: int = 1) -> str:
    return f"{server.url}/google/tiny/{version}"


def values(model: Any) -> list[float]:
    import tensorflow as tf

    out = model(tf.constant([1.0, 2.0]))
    if isinstance(out, dict):
        (out,) = out.values()
    return [float(v) for v in out.numpy()]


def test_magics_document_themselves(shell: Shell) -> None:
    for name in ("hub_setup", "hub_load", "hub_cache"):
        doc = shell.ip.find_line_magic(name).__doc__  # type: ignore[no-untyped-call]
        assert f"%{name} [" in doc, name
        assert "optional arguments" in doc or "options:" in doc, name
    assert "bug report" in shell.ip.find_line_magic("hub_info").__doc__  # type: ignore[no-untyped-call]


def test_setup_dry_run_shows_the_plan_and_changes_nothing(shell: Shell, cache: str) -> None:
    plan, out = shell.show(f"%hub_setup local --cache {cache} --dry-run")
    assert isinstance(plan, SetupPlan) and plan.cache_dir == cache
    assert cache in out and out.rstrip().endswith("(dry run: nothing was changed)")
    assert "TFHUB_CACHE_DIR" not in os.environ
    assert session.state.plan is None


@pytest.mark.tf
def test_setup_applies_for_plain_hub_load_too(
    shell: Shell, hub_server: HubServer, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = shell.magic("hub_setup", f"local --cache {cache}")
    assert os.environ["TFHUB_CACHE_DIR"] == cache == plan.cache_dir
    assert session.state.plan == plan and plan.applied
    import tensorflow_hub as hub

    # Plain hub.load in the same kernel follows the setup, through hubmagic's resolver.
    assert values(hub.load(tiny(hub_server))) == [3.0, 5.0]
    assert (Path(cache) / cache_key(tiny(hub_server)) / "saved_model.pb").exists()


def test_setup_tpu_without_a_tpu_applies_tpu_safe_settings(shell: Shell) -> None:
    plan, out = shell.show("%hub_setup tpu")
    assert plan.mode == "tpu" and plan.io_device == "/job:localhost"
    assert session.state.io_device == "/job:localhost"
    assert plan.warnings and "/job:localhost" in out


@pytest.mark.tf
def test_hub_load_downloads_then_hits(
    shell: Shell, hub_server: HubServer, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.magic("hub_setup", f"--cache {cache}")
    capsys.readouterr()
    shell.run(f"model = %hub_load {tiny(hub_server)}")
    assert values(shell.user_ns["model"]) == [3.0, 5.0]
    out = capsys.readouterr().out
    assert "downloaded" in out and "hub.load" in out
    mark = hub_server.mark()
    shell.run(f"again = %hub_load {tiny(hub_server)}")
    assert "from the cache" in capsys.readouterr().out
    assert hub_server.requests_since(mark) == ()


@pytest.mark.tf
def test_hub_load_uses_the_io_device_from_setup(
    shell: Shell, hub_server: HubServer, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.magic("hub_setup", f"--cache {cache} --io-device /job:localhost")
    model = shell.magic("hub_load", tiny(hub_server))
    assert values(model) == [3.0, 5.0]
    assert "reads through /job:localhost" in capsys.readouterr().out


@pytest.mark.tf
def test_hub_load_keras_and_signature(shell: Shell, hub_server: HubServer, cache: str) -> None:
    shell.magic("hub_setup", f"--cache {cache}")
    layer = shell.magic("hub_load", f"{tiny(hub_server, 2)} --keras")
    assert type(layer).__name__ == "KerasLayer"
    assert values(layer) == [3.0, 6.0]
    signature = shell.magic("hub_load", f"{tiny(hub_server, 2)} --signature serving_default")
    assert values(signature) == [3.0, 6.0]
    output = shell.magic(
        "hub_load",
        f"{tiny(hub_server, 2)} --keras --signature serving_default --output-key output_0",
    )
    assert values(output) == [3.0, 6.0]
    trainable = shell.magic("hub_load", f"{tiny(hub_server, 2)} --keras --trainable")
    assert trainable.trainable and values(trainable) == [3.0, 6.0]


@pytest.mark.tf
def test_hub_load_uncompressed_reads_the_model_from_gcs(
    shell: Shell,
    hub_server_factory: Any,
    saved_models_dir: Path,
    cache: str,
    gcs: Any,
    tf_gcs: Any,
) -> None:
    # The hub answers 303 with a gs:// path; TensorFlow reads the model from
    # there (the GCS emulator, through the test proxy) and nothing is cached.
    bucket = f"hub-{uuid.uuid4().hex[:10]}"
    gcs.create_bucket(bucket)
    upload_folder(gcs, saved_models_dir / "google/tiny/1", f"gs://{bucket}/hub/google/tiny/1")
    server = hub_server_factory(saved_models_dir, gcs_prefix=f"gs://{bucket}/hub")
    shell.magic("hub_setup", f"--cache {cache} --uncompressed --probe {tiny(server, 2)}")
    model = shell.magic("hub_load", tiny(server))
    assert values(model) == [3.0, 5.0]
    assert [(r.path, r.query) for r in server.requests] == [
        ("/google/tiny/2", {"tf-hub-format": "uncompressed"}),  # the probe of %hub_setup
        ("/google/tiny/1", {"tf-hub-format": "uncompressed"}),
    ]
    assert not os.path.exists(cache)


@pytest.mark.tf
def test_cache_listing_and_deletion_on_disk(
    shell: Shell, hub_server: HubServer, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.magic("hub_setup", f"--cache {cache}")
    shell.magic("hub_load", tiny(hub_server))
    shell.magic("hub_load", tiny(hub_server, 2))
    capsys.readouterr()

    _, listing = shell.show("%hub_cache")
    assert tiny(hub_server) in listing and tiny(hub_server, 2) in listing
    assert "complete" in listing

    folder = Path(cache, cache_key(tiny(hub_server)))
    _, out = shell.show(f"%hub_cache rm {tiny(hub_server)}")
    assert "Will delete 1 entry" in out and "--yes" in out
    assert folder.exists()
    assert "Removed 1 entry" in shell.show(f"%hub_cache rm {tiny(hub_server)} --yes")[1]
    assert not folder.exists()

    assert "is complete" in shell.show("%hub_cache verify")[1]
    (Path(cache, cache_key(tiny(hub_server, 2))) / "saved_model.pb").unlink()
    assert "needs attention" in shell.show("%hub_cache verify")[1]
    assert "Removed 1 entry" in shell.show("%hub_cache repair --yes")[1]
    assert os.listdir(cache) == []


@pytest.mark.tf
def test_cache_prune_and_clear(
    shell: Shell, hub_server: HubServer, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.magic("hub_setup", f"--cache {cache}")
    shell.magic("hub_load", tiny(hub_server))
    shell.magic("hub_load", tiny(hub_server, 2))
    shell.magic("hub_cache", "prune --max-size 1")
    assert len(os.listdir(cache)) == 4  # nothing without --yes
    shell.magic("hub_cache", "prune --max-size 1 --yes")
    assert os.listdir(cache) == []
    shell.magic("hub_load", tiny(hub_server))
    assert "Will clear 1 entry" in shell.show("%hub_cache clear")[1]
    shell.magic("hub_cache", "clear --yes")
    assert os.listdir(cache) == []


@pytest.mark.parametrize(
    ("name", "line", "message"),
    [
        ("hub_setup", "warp", "unknown mode 'warp'"),
        ("hub_setup", "--bogus", "unrecognized arguments"),
        ("hub_setup", "--endpoint ftp://x", "http"),
        ("hub_load", "", "the following arguments are required: handle"),
        # The handle is checked before TensorFlow is looked for (a TPU image has none).
        ("hub_load", "not-a-handle", "is not a model handle"),
        ("hub_load", "/no/such/folder", "No such folder"),
        ("hub_load", "x --trainable", "--trainable goes with --keras"),
        ("hub_load", "x --output-key k", "--output-key goes with --keras and --signature"),
        ("hub_cache", "explode", "invalid choice"),
        ("hub_cache", "rm", "needs at least one handle"),
        ("hub_cache", "ls h", "takes no handles"),
        ("hub_cache", "prune", "prune needs it"),
        ("hub_cache", "prune --max-size lots", "is not a size"),
        ("hub_cache", "rm https://tfhub.dev/x/y/1", "Not in the cache"),
        ("hub_info", "please", "takes no arguments"),
        ("hub_setup", "--probe https://tfhub.dev/a/b/1", "--probe goes with --uncompressed"),
        ("hub_setup", "--uncompressed --probe gs://bucket/m --dry-run", "no uncompressed form"),
    ],
)
def test_bad_arguments_are_usage_errors(shell: Shell, name: str, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.magic(name, line)


def test_setup_uncompressed_asks_the_hub_first(
    shell: Shell,
    fake_hub_server: HubServer,
    hub_server_factory: Any,
    fake_models_dir: Path,
    cache: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A hub with uncompressed models: the plan says where they are read from.
    gcs_hub = hub_server_factory(fake_models_dir, gcs_prefix="gs://b/p")
    plan, out = shell.show(f"%hub_setup --cache {cache} --uncompressed --probe {tiny(gcs_hub)}")
    assert plan.ok and os.environ["TFHUB_MODEL_LOAD_FORMAT"] == "UNCOMPRESSED"
    assert "gs://b/p/google/tiny/1, so models are read from GCS" in out
    _, info = shell.show("%hub_info")
    assert "models from:    GCS, uncompressed" in info and "gs://b/p/google/tiny/1" in info

    # A hub without them: a problem, first, with the fix.
    plan, out = shell.show(
        f"%hub_setup --cache {cache} --uncompressed --probe {tiny(fake_hub_server)} --dry-run"
    )
    assert not plan.ok and out.startswith("Problems:")
    assert "does not serve uncompressed models" in out
    assert "fix: run %hub_setup again without the uncompressed option" in out


def test_hub_info_reports_runtime_settings_and_versions(shell: Shell, cache: str) -> None:
    shell.magic("hub_setup", f"--cache {cache}")
    _, out = shell.show("%hub_info")
    for expected in ("local", cache, "COMPRESSED", "ipython", "hubmagic", "Python"):
        assert expected in out
    assert "models from:    the cache folder" in out


@pytest.mark.tf
def test_config_options_are_traitlets(
    shell: Shell, hub_server: HubServer, cache: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.magic("hub_setup", f"--cache {cache}")
    shell.magic("config", "HubMagics.summary = False")
    shell.magic("config", "HubMagics.progress = 'off'")
    capsys.readouterr()
    shell.magic("hub_load", tiny(hub_server))
    assert capsys.readouterr().out == ""
    shell.magic("config", "HubMagics.progress = 'text'")
    shell.magic("hub_load", tiny(hub_server, 2))
    assert "done in" in capsys.readouterr().out


def test_reload_and_unload(shell: Shell) -> None:
    shell.magic("reload_ext", "hubmagic")
    assert shell.ip.find_line_magic("hub_load") is not None  # type: ignore[no-untyped-call]
    shell.magic("unload_ext", "hubmagic")
    assert shell.ip.find_line_magic("hub_load") is None  # type: ignore[no-untyped-call]
    shell.magic("load_ext", "hubmagic")
    assert shell.ip.find_line_magic("hub_load") is not None  # type: ignore[no-untyped-call]


LIGHT_IMPORT = textwrap.dedent(
    """
    import sys
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "hubmagic")
    assert ip.find_line_magic("hub_load") is not None
    heavy = ["tensorflow", "tensorflow_hub", "google.cloud.storage", "ipywidgets", "requests"]
    print(sorted(m for m in heavy if m in sys.modules))
    """
)


def test_load_ext_imports_nothing_heavy() -> None:
    out = subprocess.run(
        [sys.executable, "-c", LIGHT_IMPORT], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


HUB_AFTER_LOAD_EXT = textwrap.dedent(
    """
    import os, sys
    from IPython.core.interactiveshell import InteractiveShell
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "hubmagic")
    assert "tensorflow_hub" not in sys.modules
    import tensorflow_hub as hub          # imported after the extension: the hook registers
    handle, cache = sys.argv[1], sys.argv[2]
    os.environ["TFHUB_CACHE_DIR"] = cache
    model = hub.load(handle)              # the damaged entry is repaired, not returned
    print(float(model([1.0]).numpy()[0]))
    """
)


@pytest.mark.tf
def test_plain_hub_load_after_load_ext_gets_repair(hub_server: HubServer, tmp_path: Path) -> None:
    handle = tiny(hub_server)
    cache = tmp_path / "cache"
    (cache / cache_key(handle)).mkdir(parents=True)
    (cache / cache_key(handle) / "half-written").write_text("x")  # tensorflow_hub: a hit
    child = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", HUB_AFTER_LOAD_EXT, handle, str(cache)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.strip().splitlines()[-1] == "3.0"
    assert (cache / cache_key(handle) / "saved_model.pb").exists()


def test_without_tensorflow_load_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow" else real(name, *a),
    )
    with pytest.raises(hubmagic.MissingDependencyError, match=r"pip install 'hubmagic\[tf\]'"):
        hubmagic.load("https://tfhub.dev/google/spice/2")


# -- one decision, rendered once: the front-end edges ------------------------------------


def test_setup_with_a_file_as_cache_leaves_the_environment_untouched(
    shell: Shell, tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "cache-is-a-file"
    not_a_folder.write_text("x")
    plan, out = shell.show(f"%hub_setup local --cache {not_a_folder}")
    assert not plan.ok and not plan.applied
    assert "TFHUB_CACHE_DIR" not in os.environ
    assert session.state.plan is None
    assert "%hub_setup --cache DIR" in out  # the fix, as a notebook user types it
    assert "hubmagic setup" not in out and "hubmagic.setup(" not in out


def test_setup_with_an_unusable_bucket_leaves_the_environment_untouched(
    shell: Shell, gcs: Any
) -> None:
    cache = f"gs://no-such-bucket-{uuid.uuid4().hex[:8]}/cache"
    plan, out = shell.show(f"%hub_setup cpu --cache {cache}")
    assert not plan.ok and not plan.applied
    assert "does not exist" in out
    assert "TFHUB_CACHE_DIR" not in os.environ and session.state.plan is None


@pytest.mark.parametrize("kind", ["file", "bucket"])
def test_hub_info_with_a_broken_cache_still_shows_everything_else(
    shell: Shell,
    tmp_path: Path,
    gcs: Any,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    if kind == "file":
        broken = tmp_path / "cache-is-a-file"
        broken.write_text("x")
        monkeypatch.setenv("TFHUB_CACHE_DIR", str(broken))
    else:
        monkeypatch.setenv("TFHUB_CACHE_DIR", f"gs://no-such-bucket-{uuid.uuid4().hex[:8]}/c")
    shown, out = shell.show("%hub_info")
    assert out.count("Settings in force:") == 1  # displayed once, though it needs attention
    assert shown.to_dict()["cache"]["error"]
    for part in ("platform", "accelerator", "Settings in force:", "cache folder:", "Versions:"):
        assert part in out, part
    cache_section = out[out.index("\nCache:") :]
    assert "could not be read" in cache_section


def test_a_bad_config_value_is_refused_in_one_line_and_reload_keeps_everything(
    shell: Shell, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from hubmagic.tf import plug

    shell.run('%config HubMagics.progress = "bogus"')  # %config logs what it refuses
    captured = capsys.readouterr()
    shown = captured.out + captured.err + caplog.text
    said = [line for line in shown.splitlines() if "bogus" in line]
    assert len(said) == 1 and "auto, widget, text, off" in said[0]
    shell.magic("reload_ext", "hubmagic")
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    for name in ("hub_setup", "hub_load", "hub_cache", "hub_panel", "hub_info"):
        assert shell.ip.find_line_magic(name) is not None, name  # type: ignore[no-untyped-call]
    assert plug.RESOLVER.enabled and plug.RESOLVER.progress_factory is not None
    magics: Any = next(c for c in shell.ip.configurables if type(c).__name__ == "HubMagics")
    assert magics.progress == "auto"


def test_a_bad_config_value_left_in_the_config_does_not_break_load_ext(
    shell: Shell, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.magic("unload_ext", "hubmagic")
    shell.ip.config.HubMagics.progress = "bogus"  # as a config file could leave it
    shell.magic("load_ext", "hubmagic")
    err = capsys.readouterr().err
    assert "'bogus' is not a progress mode" in err and "defaults" in err
    assert shell.ip.find_line_magic("hub_load") is not None  # type: ignore[no-untyped-call]


@pytest.mark.tf  # %hub_load checks that TensorFlow is installed before it downloads
def test_a_failed_load_is_said_once_and_an_invalid_handle_in_three_lines_at_most(
    shell: Shell, fake_hub_server: HubServer, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = f"{fake_hub_server.url}/google/nothing/1"
    with pytest.raises(UsageError) as failed:
        shell.magic("hub_load", missing)
    out = capsys.readouterr().out
    message = str(failed.value)
    assert "No model at" in message
    assert "No model at" not in out  # the progress line says "failed", not the error again
    assert f"{missing}: failed" in out
    with pytest.raises(UsageError) as invalid:
        shell.magic("hub_load", "spice")
    assert len(str(invalid.value).splitlines()) <= 3
    assert str(invalid.value).startswith("'spice' is not a model handle")
