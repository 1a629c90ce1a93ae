"""plan_setup: one table row per rule users rely on."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubmagic.core import config, session
from hubmagic.core.errors import FRONTS, Fix, InvalidSettingError, PlanNotAppliedError
from hubmagic.core.gcs import BucketCheck
from hubmagic.plan import DEFAULT_PROBE_HANDLE, IO_DEVICE_LOCALHOST, plan_setup
from hubmagic.plan.apply import DROP_UNCOMPRESSED, apply_plan, check_uncompressed, setup
from hubmagic.plan.checks import MIN_FREE_BYTES, TF_EXTRA_INSTALL, TF_INSTALL
from hubmagic.plan.detect import detect_runtime
from hubmagic.plan.records import Problem, SetupPlan, UncompressedProbe
from hubmagic.plan.runtime import PackageInfo, Runtime, Settings
from hubmagic.server import HubServer

GiB = 1024**3
HOME = "/home/me"
HOME_CACHE = os.path.join(HOME, ".cache", "tfhub_modules")
TEMP = "<tensorflow_hub's temp default>"  # resolved per test: conftest sets TMPDIR
GS = "gs://team-bucket/tfhub-cache"
INSTALLED = {"tensorflow": "2.21.0", "tensorflow-hub": "0.16.1", "tf-keras": "2.21.0"}


@pytest.fixture(autouse=True)
def _fresh_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no setup applied, and leaves none behind."""
    monkeypatch.setattr(session, "state", session.SessionState())
    yield


def packages(
    tf: str | None = "2.21.0", hub: str | None = "0.16.1", keras: str | None = "2.21.0"
) -> tuple[PackageInfo, ...]:
    return (
        PackageInfo("tensorflow", tf, "tensorflow" if tf else None),
        PackageInfo("tensorflow-hub", hub, "tensorflow-hub" if hub else None),
        PackageInfo("tf-keras", keras, "tf-keras" if keras else None),
    )


def runtime(**fields: Any) -> Runtime:
    fields.setdefault("packages", packages())
    fields.setdefault("home", HOME)
    return Runtime(**fields)


def roomy_plan(rt: Runtime, mode: str = "auto", **kwargs: Any) -> SetupPlan:
    """A plan whose local cache checks pass, for rows that are not about them."""
    kwargs.setdefault("disk_usage", lambda path: 100 * GiB)
    kwargs.setdefault("writable", lambda path: True)
    return plan_setup(rt, mode, **kwargs)


REMOTE = {"platform": "colab", "accelerator": "tpu-remote", "tpu_address": "grpc://10.0.0.2:8470"}

RULES = [
    # (id, runtime fields, mode, plan kwargs,
    #  profile, cache_dir, load_format, io_device, words in reasons, words in warnings)
    (
        "user-tfhub-cache-dir-is-kept",
        {"settings": Settings(cache_dir="/data/hub")},
        "auto",
        {},
        "local",
        "/data/hub",
        "COMPRESSED",
        None,
        ["kept, TFHUB_CACHE_DIR was already set"],
        [],
    ),
    (
        "cache-argument-beats-user-setting",
        {"settings": Settings(cache_dir="/data/hub")},
        "auto",
        {"cache": "/fast/hub"},
        "local",
        "/fast/hub",
        "COMPRESSED",
        None,
        ["cache /fast/hub: given"],
        [],
    ),
    (
        "local-gets-a-persistent-home-cache",
        {},
        "auto",
        {},
        "local",
        HOME_CACHE,
        "COMPRESSED",
        None,
        ["survives reboots", "no automatic cleanup"],
        [],
    ),
    (
        "local-gpu-is-the-local-profile",
        {"accelerator": "gpu"},
        "auto",
        {},
        "local",
        HOME_CACHE,
        "COMPRESSED",
        None,
        ["your own machine (gpu)"],
        [],
    ),
    (
        "colab-keeps-the-temp-default",
        {"platform": "colab", "accelerator": "gpu"},
        "auto",
        {},
        "gpu",
        TEMP,
        "COMPRESSED",
        None,
        ["wiped when the runtime is recycled", "temp default is kept"],
        [],
    ),
    (
        "colab-enterprise-keeps-the-temp-default",
        {"platform": "colab-enterprise"},
        "auto",
        {},
        "cpu",
        TEMP,
        "COMPRESSED",
        None,
        ["deleted with their disk"],
        [],
    ),
    (
        "kaggle-keeps-the-temp-default",
        {"platform": "kaggle"},
        "auto",
        {},
        "cpu",
        TEMP,
        "COMPRESSED",
        None,
        ["lasts one session"],
        [],
    ),
    (
        "databricks-keeps-the-temp-default",
        {"platform": "databricks"},
        "auto",
        {},
        "cpu",
        TEMP,
        "COMPRESSED",
        None,
        ["cluster restarts"],
        [],
    ),
    (
        "vertex-workbench-has-a-persistent-home",
        {"platform": "vertex-workbench", "accelerator": "gpu"},
        "auto",
        {},
        "gpu",
        HOME_CACHE,
        "COMPRESSED",
        None,
        ["persistent disk", "stay cached across sessions"],
        [],
    ),
    (
        "sagemaker-has-a-persistent-home",
        {"platform": "sagemaker"},
        "auto",
        {},
        "cpu",
        HOME_CACHE,
        "COMPRESSED",
        None,
        ["persistent user volume", "~/SageMaker"],
        [],
    ),
    (
        "remote-tpu-with-a-gs-cache-reads-it",
        REMOTE,
        "auto",
        {"cache": GS + "/"},
        "tpu",
        GS,
        "COMPRESSED",
        None,
        ["worker is another machine (grpc://10.0.0.2:8470)", "reads the gs:// cache itself"],
        [],
    ),
    (
        "remote-tpu-uncompressed-reads-gcs",
        REMOTE,
        "auto",
        {"uncompressed": True},
        "tpu",
        TEMP,
        "UNCOMPRESSED",
        None,
        ["UNCOMPRESSED: given", "reads models from their GCS bucket"],
        ["archive handles"],
    ),
    (
        "remote-tpu-reads-through-this-host",
        REMOTE,
        "auto",
        {},
        "tpu",
        TEMP,
        "COMPRESSED",
        IO_DEVICE_LOCALHOST,
        [
            "io device /job:localhost: the TPU worker is another machine",
            "File system scheme '[local]' not implemented",
            "tensorflow/hub#604",
        ],
        [],
    ),
    (
        "remote-tpu-keeps-a-user-local-cache-through-this-host",
        {**REMOTE, "settings": Settings(cache_dir="/data/hub")},
        "auto",
        {},
        "tpu",
        "/data/hub",
        "COMPRESSED",
        IO_DEVICE_LOCALHOST,
        ["kept", "cannot read the local cache /data/hub"],
        [],
    ),
    (
        "remote-tpu-keeps-a-user-uncompressed-setting",
        {**REMOTE, "settings": Settings(load_format="UNCOMPRESSED")},
        "auto",
        {},
        "tpu",
        TEMP,
        "UNCOMPRESSED",
        None,
        ["UNCOMPRESSED: kept"],
        ["archive handles"],
    ),
    (
        "remote-tpu-without-address",
        {"accelerator": "tpu-remote"},
        "auto",
        {},
        "tpu",
        HOME_CACHE,
        "COMPRESSED",
        IO_DEVICE_LOCALHOST,
        ["address resolved by TensorFlow"],
        [],
    ),
    (
        "tpu-vm-reads-the-local-cache",
        {"platform": "colab", "accelerator": "tpu-vm"},
        "auto",
        {},
        "tpu",
        TEMP,
        "COMPRESSED",
        None,
        ["TPU VM", "/job:localhost is not needed"],
        [],
    ),
    (
        "tpu-vm-on-kaggle",
        {"platform": "kaggle", "accelerator": "tpu-vm"},
        "tpu",
        {},
        "tpu",
        TEMP,
        "COMPRESSED",
        None,
        ["profile tpu: given", "not needed"],
        [],
    ),
    (
        "forced-tpu-without-a-tpu-is-tpu-safe",
        {},
        "tpu",
        {},
        "tpu",
        HOME_CACHE,
        "COMPRESSED",
        IO_DEVICE_LOCALHOST,
        ["profile tpu: given (detection says local"],
        ["no TPU was found", "applied anyway"],
    ),
    (
        "forced-cpu-on-a-gpu-runtime",
        {"platform": "colab", "accelerator": "gpu"},
        "cpu",
        {},
        "cpu",
        TEMP,
        "COMPRESSED",
        None,
        ["profile cpu: given (detection says gpu"],
        ["mode 'cpu' but this runtime has gpu"],
    ),
    (
        "forced-gpu-without-a-gpu",
        {"platform": "kaggle"},
        "gpu",
        {},
        "gpu",
        TEMP,
        "COMPRESSED",
        None,
        [],
        ["mode 'gpu' but this runtime has cpu"],
    ),
    (
        "forced-cpu-on-a-remote-tpu-warns-about-the-worker",
        REMOTE,
        "cpu",
        {},
        "cpu",
        TEMP,
        "COMPRESSED",
        None,
        ["TensorFlow's default"],
        ["tpu-remote at grpc://10.0.0.2:8470", "tensorflow/hub#604"],
    ),
    (
        "forced-local-on-colab",
        {"platform": "colab"},
        "local",
        {},
        "local",
        HOME_CACHE,
        "COMPRESSED",
        None,
        ["local profile"],
        ["mode 'local' on colab, which is not your own machine", "wiped"],
    ),
    (
        "given-io-device-wins-on-a-tpu-vm",
        {"accelerator": "tpu-vm"},
        "auto",
        {"io_device": "/job:localhost"},
        "tpu",
        HOME_CACHE,
        "COMPRESSED",
        "/job:localhost",
        ["io device /job:localhost: given"],
        [],
    ),
    (
        "given-io-device-wins-over-a-gs-cache",
        REMOTE,
        "auto",
        {"io_device": "/job:worker/replica:0/task:0/device:CPU:0", "cache": GS},
        "tpu",
        GS,
        "COMPRESSED",
        "/job:worker/replica:0/task:0/device:CPU:0",
        ["given"],
        [],
    ),
    (
        "uncompressed-anywhere",
        {"platform": "kaggle", "accelerator": "gpu"},
        "auto",
        {"uncompressed": True},
        "gpu",
        TEMP,
        "UNCOMPRESSED",
        None,
        ["straight from GCS"],
        [],
    ),
    (
        "tilde-cache-uses-the-runtime-home",
        {},
        "auto",
        {"cache": "~/models/hub"},
        "local",
        os.path.join(HOME, "models", "hub"),
        "COMPRESSED",
        None,
        ["given"],
        [],
    ),
    (
        "user-auto-load-format-means-compressed",
        {"settings": Settings(load_format="AUTO")},
        "auto",
        {},
        "local",
        HOME_CACHE,
        "COMPRESSED",
        None,
        ["COMPRESSED"],
        [],
    ),
    (
        "invalid-user-load-format-is-replaced",
        {"settings": Settings(load_format="uncompressed")},
        "auto",
        {},
        "local",
        HOME_CACHE,
        "COMPRESSED",
        None,
        [],
        ["TFHUB_MODEL_LOAD_FORMAT='uncompressed' is not one of"],
    ),
    (
        "relative-user-cache-is-kept-with-a-warning",
        {"settings": Settings(cache_dir="~/hub")},
        "auto",
        {},
        "local",
        "~/hub",
        "COMPRESSED",
        None,
        ["kept"],
        ["not an absolute path", "does not expand ~"],
    ),
]


@pytest.mark.parametrize(
    ("fields", "mode", "kwargs", "profile", "cache_dir", "load_format", "io", "why", "warn"),
    [pytest.param(*row[1:], id=row[0]) for row in RULES],
)
def test_rules(
    fields: dict[str, Any],
    mode: str,
    kwargs: dict[str, Any],
    profile: str,
    cache_dir: str,
    load_format: str,
    io: str | None,
    why: list[str],
    warn: list[str],
) -> None:
    plan = roomy_plan(runtime(**fields), mode, **kwargs)
    expected_cache = config.default_cache_dir() if cache_dir == TEMP else cache_dir
    assert (plan.mode, plan.cache_dir, plan.load_format, plan.io_device) == (
        profile,
        expected_cache,
        load_format,
        io,
    )
    assert plan.env == (
        ("TFHUB_CACHE_DIR", expected_cache),
        ("TFHUB_MODEL_LOAD_FORMAT", load_format),
    )
    assert plan.problems == ()
    reasons = " | ".join(plan.reasons)
    for word in why:
        assert word in reasons, f"{word!r} not in reasons: {reasons}"
    warnings = " | ".join(plan.warnings)
    for word in warn:
        assert word in warnings, f"{word!r} not in warnings: {warnings}"
    if not warn:
        assert plan.warnings == ()
    # One reason per decision: profile, cache, load format, io device, endpoint.
    assert len(plan.reasons) == 5


def test_a_remote_worker_never_gets_a_local_cache_it_cannot_read() -> None:
    """Whatever the arguments, a remote TPU worker reads gs://, UNCOMPRESSED, or via this host."""
    for kwargs in ({}, {"cache": GS}, {"uncompressed": True}, {"cache": "/x"}):
        plan = roomy_plan(runtime(**REMOTE), **kwargs)
        safe = (
            plan.cache_dir.startswith("gs://")
            or plan.load_format == "UNCOMPRESSED"
            or plan.io_device == IO_DEVICE_LOCALHOST
        )
        assert safe, plan.describe()


def test_relative_cache_is_made_absolute_against_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plan = roomy_plan(runtime(), cache="models")
    assert plan.cache_dir == str(tmp_path / "models")
    assert "given as 'models', made absolute" in plan.reasons[1]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        pytest.param({"mode": "warp"}, "auto, local, cpu, gpu, tpu", id="unknown-mode"),
        pytest.param({"endpoint": "ftp://mirror"}, "http", id="endpoint-not-http"),
        pytest.param({"endpoint": "https://"}, "http", id="endpoint-without-host"),
        pytest.param({"cache": "s3://bucket/hub"}, "gs:// only", id="s3-cache"),
        pytest.param({"cache": "gs:///hub"}, "no bucket", id="gs-without-bucket"),
        pytest.param({"cache": "  "}, "empty", id="empty-cache"),
        pytest.param({"io_device": " "}, "empty", id="empty-io-device"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], match: str) -> None:
    mode = kwargs.pop("mode", "auto")
    with pytest.raises(InvalidSettingError, match=match):
        roomy_plan(runtime(), mode, **kwargs)


def test_endpoint_goes_into_env_when_given() -> None:
    plan = roomy_plan(runtime(), endpoint="https://mirror.example.com/hub/")
    assert plan.endpoint == "https://mirror.example.com/hub"
    assert plan.env_dict["HUBMAGIC_ENDPOINT"] == "https://mirror.example.com/hub"
    assert "endpoint https://mirror.example.com/hub: given" in plan.reasons[-1]

    kept = roomy_plan(runtime(settings=Settings(endpoint="http://10.0.0.9:8765")))
    assert kept.endpoint == "http://10.0.0.9:8765"
    assert "HUBMAGIC_ENDPOINT" not in kept.env_dict  # already set: nothing to change
    assert "kept" in kept.reasons[-1]


@pytest.mark.parametrize(
    ("pkgs", "message", "fix"),
    [
        pytest.param(
            (),
            "TensorFlow is not installed",
            f"{TF_INSTALL}   (or: {TF_EXTRA_INSTALL})",
            id="no-packages-at-all",
        ),
        pytest.param(
            packages(tf=None),
            "Colab TPU images ship without TensorFlow",
            f"{TF_INSTALL}   (or: {TF_EXTRA_INSTALL})",
            id="colab-tpu-image-without-tensorflow",
        ),
        pytest.param(
            packages(hub=None),
            "tensorflow-hub is not installed",
            "pip install tensorflow-hub",
            id="tensorflow-without-hub",
        ),
        pytest.param(
            packages(hub=None, keras=None),
            "tensorflow-hub is not installed",
            "pip install tensorflow-hub 'tf-keras~=2.21.0'",
            id="tensorflow-without-hub-and-tf-keras",
        ),
        pytest.param(
            packages(keras=None),
            "TensorFlow 2.21.0 uses Keras 3",
            "pip install 'tf-keras~=2.21.0'",
            id="keras-3-without-tf-keras",
        ),
    ],
)
def test_missing_packages_are_warnings_with_the_command(
    pkgs: tuple[PackageInfo, ...], message: str, fix: str
) -> None:
    # The setup stands without them (a Colab TPU image has no TensorFlow, and
    # %hub_setup tpu must still apply there): loading names the install when tried.
    plan = roomy_plan(runtime(packages=pkgs))
    assert plan.ok and plan.problems == ()
    (warning,) = [w for w in plan.warnings if message in w]
    assert warning.endswith(f"fix: {fix}")


def test_old_tensorflow_does_not_need_tf_keras() -> None:
    assert roomy_plan(runtime(packages=packages(tf="2.15.1", keras=None))).problems == ()


def test_mismatched_tf_keras_is_a_warning() -> None:
    plan = roomy_plan(runtime(packages=packages(keras="2.15.0")))
    assert plan.problems == ()
    assert "tf-keras 2.15.0 does not match TensorFlow 2.21.0" in plan.warnings[0]
    assert "'tf-keras~=2.21.0'" in plan.warnings[0]


def test_a_real_writable_folder_with_real_free_space(tmp_path: Path) -> None:
    cache = tmp_path / "not-yet" / "cache"  # created later: its parent is checked
    plan = plan_setup(runtime(), cache=str(cache))
    low = shutil.disk_usage(tmp_path).free < MIN_FREE_BYTES
    assert [p.message for p in plan.problems if "free" in p.message] == (
        [plan.problems[0].message] if low else []
    )
    assert not any("cannot be written" in p.message for p in plan.problems)


def test_a_real_folder_that_cannot_be_created(tmp_path: Path) -> None:
    # A file where a parent folder should be: cannot be created, even as root.
    (tmp_path / "blocker").write_text("not a folder")
    plan = plan_setup(runtime(), cache=str(tmp_path / "blocker" / "cache"))
    blocker = tmp_path / "blocker"
    assert plan.problems == (
        Problem(
            f"the cache folder {blocker / 'cache'} cannot be created: {blocker} is a file",
            Fix("choose a folder: {setup_cache}"),
        ),
    )


def test_low_free_space_is_a_problem_with_a_fix() -> None:
    seen: list[str] = []

    def disk_usage(path: str) -> int:
        seen.append(path)
        return 300 * 1024**2

    plan = plan_setup(runtime(), disk_usage=disk_usage, writable=lambda path: True)
    assert seen == [HOME_CACHE]
    (problem,) = plan.problems
    assert "only 300.0 MiB free" in problem.message and "2.0 GiB" in problem.message
    api, magic, cli = (problem.fix.render(front) for front in FRONTS)
    assert "hubmagic.prune(max_bytes)" in api and "hubmagic.setup(cache=DIR)" in api
    assert "%hub_cache prune" in magic and "%hub_setup --cache DIR" in magic
    assert "hubmagic cache prune" in cli and "hubmagic setup --uncompressed" in cli


def test_low_free_space_only_warns_when_uncompressed() -> None:
    plan = plan_setup(
        runtime(), uncompressed=True, disk_usage=lambda path: 1, writable=lambda path: True
    )
    assert plan.problems == ()
    assert "only archive handles use the cache" in plan.warnings[0]


def test_free_space_that_cannot_be_read_is_a_warning() -> None:
    def disk_usage(path: str) -> int:
        raise PermissionError(13, "Permission denied")

    plan = plan_setup(runtime(), disk_usage=disk_usage, writable=lambda path: True)
    assert plan.problems == ()
    assert "could not check free space" in plan.warnings[0]


def test_gs_caches_are_not_checked_here() -> None:
    def never(path: str) -> Any:
        raise AssertionError(f"checked {path}")

    plan = plan_setup(runtime(**REMOTE), cache=GS, disk_usage=never, writable=never)
    assert plan.problems == ()


def test_describe_puts_problems_first_then_runtime_decisions_and_warnings() -> None:
    plan = roomy_plan(runtime(packages=(), platform="kaggle"), "tpu", writable=lambda path: False)
    text = plan.describe()
    assert text.startswith("Problems:\n  x the cache folder")
    order = [
        text.index("Problems:"),
        text.index("fix: choose a writable folder: hubmagic.setup(cache=DIR)"),
        text.index("Nothing was applied: fix the problems above, then run hubmagic.setup() again"),
        text.index("Runtime: kaggle, none, cpu"),
        text.index("Setup (tpu profile):"),
        text.index("io device /job:localhost"),
        text.index("Would set, once the problems are fixed:\n  TFHUB_CACHE_DIR="),
        text.index("Warnings:\n  ! mode 'tpu' but no TPU was found"),
        text.index("! TensorFlow is not installed"),
    ]
    assert order == sorted(order)


def test_apply_plan_sets_the_env_and_the_session_and_returns_the_applied_plan() -> None:
    plan = roomy_plan(runtime(**REMOTE), endpoint="http://127.0.0.1:8765")
    assert not plan.applied and "Nothing was applied" not in plan.describe()
    environ = {"PATH": "/bin"}
    applied = apply_plan(plan, environ)
    assert environ == {
        "PATH": "/bin",
        "TFHUB_CACHE_DIR": config.default_cache_dir(),
        "TFHUB_MODEL_LOAD_FORMAT": "COMPRESSED",
        "HUBMAGIC_ENDPOINT": "http://127.0.0.1:8765",
    }
    assert applied.applied and applied == dataclasses.replace(plan, applied=True)
    assert session.state.plan is applied and session.state.io_device == IO_DEVICE_LOCALHOST
    assert "TFHUB_CACHE_DIR" not in os.environ


def test_apply_plan_defaults_to_os_environ() -> None:
    plan = roomy_plan(runtime(**REMOTE), uncompressed=True)
    apply_plan(plan)
    assert os.environ["TFHUB_MODEL_LOAD_FORMAT"] == "UNCOMPRESSED"
    assert os.environ["TFHUB_CACHE_DIR"] == plan.cache_dir
    assert config.load_format() == "UNCOMPRESSED"  # what hubmagic's resolver reads back


@pytest.mark.parametrize(
    ("environ", "globs", "io"),
    [
        pytest.param(
            {"COLAB_RELEASE_TAG": "r", "COLAB_TPU_ADDR": "10.0.0.2:8470"},
            {},
            IO_DEVICE_LOCALHOST,
            id="old-colab-tpu-node",
        ),
        pytest.param(
            {"KAGGLE_KERNEL_RUN_TYPE": "Interactive", "TPU_NAME": "local"},
            {"/dev/accel*": ["/dev/accel0"]},
            None,
            id="kaggle-tpu-vm",
        ),
    ],
)
def test_detected_tpu_runtimes(
    environ: dict[str, str], globs: dict[str, list[str]], io: str | None
) -> None:
    rt = detect_runtime(
        {**environ, "HOME": HOME},
        lambda path: False,
        None,
        glob=lambda pattern: globs.get(pattern, []),
        read_text=lambda path: None,
        package_version=INSTALLED.get,
        modules={},
    )
    plan = roomy_plan(rt)
    assert plan.mode == "tpu" and plan.io_device == io
    assert plan.cache_dir == config.default_cache_dir()


def test_setup_dry_run_changes_nothing_and_apply_remembers_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = str(tmp_path / "cache")
    dry = setup("tpu", cache=cache, dry_run=True)
    assert dry.io_device == IO_DEVICE_LOCALHOST or dry.runtime.accelerator == "tpu-vm"
    assert "TFHUB_CACHE_DIR" not in os.environ and session.state.plan is None
    assert not dry.applied

    plan = setup("local", cache=cache)
    assert plan.ok, plan.describe()
    assert os.environ["TFHUB_CACHE_DIR"] == cache == plan.cache_dir
    assert plan.applied and session.state.plan is plan and session.state.io_device is None


# --- a plan with problems is never applied -------------------------------------------


def test_setup_with_a_file_as_cache_changes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    before = dict(os.environ)
    plan = setup("local", cache=str(blocker))  # not a dry run
    assert not plan.ok and not plan.applied
    assert [p.message for p in plan.problems] == [
        f"the cache folder {blocker} is a file, not a folder"
    ]
    assert dict(os.environ) == before
    assert session.state.plan is None and session.state.io_device is None
    assert (
        "Nothing was applied: fix the problems above, then run %hub_setup again."
        in plan.describe("magic")
    )


def test_apply_plan_refuses_a_plan_with_problems() -> None:
    plan = roomy_plan(runtime(**REMOTE), writable=lambda path: False, disk_usage=lambda p: 1)
    assert len(plan.problems) == 1 and plan.io_device == IO_DEVICE_LOCALHOST
    environ = {"PATH": "/bin"}
    with pytest.raises(PlanNotAppliedError) as info:
        apply_plan(plan, environ)
    assert isinstance(info.value, ValueError)
    assert info.value.message == "The setup plan has 1 problem, so it was not applied."
    assert info.value.fix is not None and "%hub_setup" in info.value.fix.render("magic")
    assert environ == {"PATH": "/bin"}
    assert session.state.plan is None and session.state.io_device is None


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"writable": lambda path: False}, id="folder-not-writable"),
        pytest.param({"disk_usage": lambda path: 1}, id="low-free-space"),
        pytest.param(
            {"cache": GS, "bucket_check": BucketCheck(GS, "the bucket does not exist", 0.1)},
            id="unusable-bucket",
        ),
        pytest.param(
            {
                "uncompressed": True,
                "uncompressed_probe": UncompressedProbe(
                    "h", "u", problem=Problem("no uncompressed models", DROP_UNCOMPRESSED)
                ),
            },
            id="hub-without-uncompressed",
        ),
    ],
)
def test_each_fix_names_the_commands_of_the_front_end_showing_it(kwargs: dict[str, Any]) -> None:
    plan = roomy_plan(runtime(), **kwargs)
    (problem,) = plan.problems
    # The fix names steps by role, never one front end's command.
    assert not any(word in problem.fix.text for word in ("%hub_", "hubmagic", "--"))
    rendered = problem.fix.to_dict()
    assert len(set(rendered.values())) == len(FRONTS)
    assert "hubmagic." in rendered["api"] and "%hub_" in rendered["magic"]
    assert "hubmagic " in rendered["cli"] and "%hub_" not in rendered["cli"]
    for front in FRONTS:
        assert f"    fix: {rendered[front]}" in plan.describe(front)


def test_to_dict_is_what_hubmagic_setup_json_prints() -> None:
    plan = roomy_plan(runtime(**REMOTE), writable=lambda path: False)
    data = plan.to_dict()
    assert list(data) == [
        "mode",
        "cache_dir",
        "load_format",
        "io_device",
        "endpoint",
        "models_from",
        "env",
        "reasons",
        "warnings",
        "problems",
        "runtime",
        "ok",
        "applied",
    ]
    (problem,) = plan.problems
    assert data["problems"] == [{"message": problem.message, "fix": problem.fix.to_dict()}]
    assert set(problem.fix.to_dict()) == {"api", "magic", "cli"}
    assert (data["ok"], data["applied"], data["io_device"]) == (False, False, IO_DEVICE_LOCALHOST)
    assert data["env"] == dict(plan.env) and data["runtime"] == plan.runtime.summary
    assert json.loads(json.dumps(data)) == data

    applied = apply_plan(roomy_plan(runtime()), {}).to_dict()
    assert (applied["ok"], applied["applied"], applied["problems"]) == (True, True, [])


# --- --uncompressed: the hub is asked first ------------------------------------------

TINY = "google/tiny/1"


def test_a_hub_that_answers_uncompressed_gives_a_reason_with_the_gs_path(
    fake_models_dir: Path, hub_server_factory: Any
) -> None:
    server: HubServer = hub_server_factory(fake_models_dir, gcs_prefix="gs://b/p")
    handle = f"{server.url}/{TINY}"
    probe = check_uncompressed(handle)
    assert probe == UncompressedProbe(
        handle, f"{handle}?tf-hub-format=uncompressed", location=f"gs://b/p/{TINY}"
    )
    mark = server.mark()
    plan = roomy_plan(runtime(), uncompressed=True, uncompressed_probe=probe)
    assert server.requests_since(mark) == ()  # plan_setup itself never asks
    assert plan.ok and plan.load_format == "UNCOMPRESSED" and not plan.warnings
    assert plan.uncompressed_probe is probe
    assert any(f"gs://b/p/{TINY}" in r and "read from GCS" in r for r in plan.reasons)
    assert f"gs://b/p/{TINY}" in plan.describe()
    assert plan.models_from.startswith("GCS, uncompressed") and f"gs://b/p/{TINY}" in (
        plan.models_from
    )


def test_a_hub_without_uncompressed_models_is_a_problem_with_the_fix(
    fake_hub_server: HubServer,
) -> None:
    handle = f"{fake_hub_server.url}/{TINY}"
    probe = check_uncompressed(handle)
    assert probe.location is None and probe.warning is None and probe.problem is not None
    assert "does not serve uncompressed models" in probe.problem.message
    assert "HTTP 400" in probe.problem.message and handle in probe.problem.message
    assert probe.problem.fix == DROP_UNCOMPRESSED
    plan = roomy_plan(runtime(), uncompressed=True, uncompressed_probe=probe)
    assert plan.problems == (probe.problem,) and not plan.ok
    text = plan.describe()
    assert text.startswith("Problems:")
    assert "fix: run hubmagic.setup() again without the uncompressed option" in text
    assert "fix: run %hub_setup again without" in plan.describe("magic")
    assert "fix: run hubmagic setup again without" in plan.describe("cli")
    assert "the hub does not serve them" in plan.models_from


def test_a_missing_probe_model_or_an_unreachable_hub_is_a_warning(
    fake_hub_server: HubServer,
) -> None:
    missing = check_uncompressed(f"{fake_hub_server.url}/google/missing/1")
    assert missing.problem is None and missing.location is None
    assert missing.warning and "--probe HANDLE" in missing.warning
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    unreachable = check_uncompressed(f"http://127.0.0.1:{port}/{TINY}")
    assert unreachable.problem is None and unreachable.warning
    assert "could not check" in unreachable.warning
    plan = roomy_plan(runtime(), uncompressed=True, uncompressed_probe=unreachable)
    assert plan.ok and unreachable.warning in plan.warnings


def test_offline_is_a_warning_and_asks_nothing(
    fake_hub_server: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBMAGIC_OFFLINE", "1")
    mark = fake_hub_server.mark()
    probe = check_uncompressed(f"{fake_hub_server.url}/{TINY}")
    assert fake_hub_server.requests_since(mark) == ()
    assert probe.url is None and probe.problem is None and probe.location is None
    assert probe.warning and "offline" in probe.warning


@pytest.mark.parametrize("handle", ["gs://bucket/model", "ftp://host/x", "  "])
def test_a_probe_handle_without_an_uncompressed_form_is_refused(handle: str) -> None:
    with pytest.raises(InvalidSettingError, match="probe handle"):
        check_uncompressed(handle)


def test_setup_probes_the_given_handle_or_the_default_on_the_endpoint(
    fake_models_dir: Path, hub_server_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server: HubServer = hub_server_factory(fake_models_dir, gcs_prefix="gs://b/p")
    plan = setup("local", uncompressed=True, probe_handle=f"{server.url}/{TINY}", dry_run=True)
    assert plan.uncompressed_probe is not None
    assert plan.uncompressed_probe.location == f"gs://b/p/{TINY}"
    assert "TFHUB_MODEL_LOAD_FORMAT" not in os.environ

    # No probe handle: the well-known model, asked of the endpoint (this server lacks it).
    mark = server.mark()
    plan = setup("local", uncompressed=True, endpoint=server.url, dry_run=True)
    probe = plan.uncompressed_probe
    assert probe is not None and probe.handle == DEFAULT_PROBE_HANDLE
    assert probe.url is not None and probe.url.startswith(server.url + "/google/nnlm-en-dim50/2")
    assert [r.path for r in server.requests_since(mark)] == ["/google/nnlm-en-dim50/2"]
    assert probe.warning and probe.warning in plan.warnings

    # Without --uncompressed nothing is asked, and a probe handle is a mistake.
    mark = server.mark()
    assert setup("local", dry_run=True).uncompressed_probe is None
    assert server.requests_since(mark) == ()
    with pytest.raises(InvalidSettingError, match="uncompressed"):
        setup("local", probe_handle=f"{server.url}/{TINY}", dry_run=True)
