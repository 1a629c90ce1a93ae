"""Applying a setup plan, and :func:`setup`, which detects, asks, plans and applies in one call.

:func:`apply_plan` is the plan layer's only side effect: it sets the plan's
environment variables (which tensorflow_hub reads on every resolve) and
remembers the plan and its io device in :mod:`hubmagic.core.session`, and it
refuses a plan with problems (:class:`~hubmagic.core.errors.PlanNotAppliedError`).
:func:`check_uncompressed` is the one network question a plan needs asked
first (a ``gs://`` cache is checked by :func:`hubmagic.core.gcs.check_bucket`).
Plugging hubmagic into tensorflow_hub is not done here: the API and the magics
do it after a setup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from hubmagic.core import config, session
from hubmagic.core.errors import Fix, InvalidSettingError, PlanNotAppliedError
from hubmagic.core.units import plural
from hubmagic.plan.decide import plan_setup
from hubmagic.plan.detect import detect_runtime
from hubmagic.plan.modes import DEFAULT_PROBE_HANDLE
from hubmagic.plan.records import Problem, SetupPlan, UncompressedProbe, is_gcs

if TYPE_CHECKING:
    from hubmagic.core.gcs import BucketCheck

DROP_UNCOMPRESSED = Fix(
    "run {setup} again without the uncompressed option (the compressed format downloads "
    "each model into the cache once), or give an endpoint that serves uncompressed models"
)


def apply_plan(plan: SetupPlan, environ: MutableMapping[str, str] | None = None) -> SetupPlan:
    """Applies a plan without problems: its environment variables, and the session.

    Sets the plan's variables (in ``environ``, default ``os.environ``) and
    remembers the plan and its io device in :mod:`hubmagic.core.session`, which
    :func:`hubmagic.load` uses.

    Args:
        plan: from :func:`~hubmagic.plan.decide.plan_setup`.
        environ: where to set the variables.

    Returns:
        The plan, with ``applied=True``.

    Raises:
        PlanNotAppliedError: the plan has problems; nothing was changed.
    """
    if not plan.ok:
        raise PlanNotAppliedError(
            f"The setup plan has {plural(len(plan.problems), 'problem')}, so it was not applied.",
            fix=Fix("Fix the problems the plan lists, then run {setup} again."),
        )
    target = config.environ() if environ is None else environ
    for name, value in plan.env:
        target[name] = value
    applied = dataclasses.replace(plan, applied=True)
    session.state.io_device = applied.io_device
    session.state.plan = applied
    return applied


def setup(
    mode: str = "auto",
    *,
    cache: str | None = None,
    uncompressed: bool = False,
    io_device: str | None = None,
    endpoint: str | None = None,
    dry_run: bool = False,
    probe_handle: str | None = None,
) -> SetupPlan:
    """Detects the runtime, plans, and (unless ``dry_run``) applies: ``%hub_setup``'s core.

    Only a plan without problems is applied (:func:`apply_plan`); a plan with
    problems is returned as it is, with nothing changed, for its
    ``describe()`` to show what to fix.

    Args:
        mode: see :func:`plan_setup`.
        cache: see :func:`plan_setup`.
        uncompressed: see :func:`plan_setup`.
        io_device: see :func:`plan_setup`.
        endpoint: see :func:`plan_setup`.
        dry_run: only plan; change nothing.
        probe_handle: with ``uncompressed``, the model to ask the hub about
            (:func:`check_uncompressed`); default :data:`DEFAULT_PROBE_HANDLE`.

    Returns:
        The plan: applied (``applied=True``) unless ``dry_run`` or it has problems.

    Raises:
        InvalidSettingError: see :func:`plan_setup`; also ``probe_handle`` without
            ``uncompressed``, or one with no uncompressed form.
    """
    probe = None
    if probe_handle is not None and not uncompressed:
        raise InvalidSettingError(
            "probe_handle goes with uncompressed=True (it checks that the hub serves "
            "uncompressed models)."
        )
    if uncompressed:
        mirror = (
            config.check_endpoint(endpoint, source="endpoint")
            if endpoint is not None
            else config.endpoint()
        )
        probe = check_uncompressed(probe_handle, endpoint=mirror)
    runtime = detect_runtime()

    def make(bucket_check: BucketCheck | None = None) -> SetupPlan:
        return plan_setup(
            runtime,
            mode,
            cache=cache,
            uncompressed=uncompressed,
            io_device=io_device,
            endpoint=endpoint,
            uncompressed_probe=probe,
            bucket_check=bucket_check,
        )

    plan = make()
    if is_gcs(plan.cache_dir):
        # Before relying on a bucket, check it in seconds (a missing bucket made
        # tensorflow_hub hang: tensorflow/hub#261, #50).
        from hubmagic.core.gcs import check_bucket

        plan = make(check_bucket(plan.cache_dir))
    if not dry_run and plan.ok:
        plan = apply_plan(plan)
    return plan


def check_uncompressed(
    handle: str | None = None,
    *,
    endpoint: str | None = None,
    offline: bool | None = None,
) -> UncompressedProbe:
    """Asks the hub whether it answers tensorflow_hub's uncompressed protocol for ``handle``.

    One request (``?tf-hub-format=uncompressed``, redirects not followed): a
    ``303`` whose body is a ``gs://`` path is a yes. Nothing is downloaded.

    Args:
        handle: a tfhub.dev / Kaggle / http(s) model handle; default
            :data:`DEFAULT_PROBE_HANDLE`.
        endpoint: the mirror to ask instead of tfhub.dev / Kaggle; default
            ``HUBMAGIC_ENDPOINT``.
        offline: do not ask (a warning); default ``HUBMAGIC_OFFLINE``.

    Returns:
        The answer: ``location`` when the hub said yes, ``problem`` when it
        said no, ``warning`` when it could not be asked.

    Raises:
        InvalidSettingError: the handle has no uncompressed form (a gs:// path,
            a folder, a Kaggle API download URL).
    """
    from hubmagic.core import handle as handles
    from hubmagic.core.errors import (
        HubmagicError,
        ModelNotFoundError,
        UncompressedNotSupportedError,
    )

    raw = handle or DEFAULT_PROBE_HANDLE
    mirror = config.endpoint() if endpoint is None else endpoint
    try:
        parsed = handles.parse(raw, endpoint=mirror)
    except HubmagicError as exc:
        raise InvalidSettingError(f"probe handle: {exc}") from None
    url = parsed.uncompressed_url
    if url is None:
        raise InvalidSettingError(
            f"probe handle {raw!r} has no uncompressed form: give a tfhub.dev, Kaggle model "
            "page or hub server URL."
        )
    if config.offline() if offline is None else offline:
        return UncompressedProbe(
            raw,
            None,
            warning=(
                "offline mode is on (HUBMAGIC_OFFLINE), so whether the hub serves uncompressed "
                f"models was not checked; loads will ask it for {raw} and the like"
            ),
        )
    from hubmagic.core.http import ask_uncompressed

    try:
        location = ask_uncompressed(url)
    except UncompressedNotSupportedError as exc:
        return UncompressedProbe(
            raw,
            url,
            problem=Problem(
                f"the hub does not serve uncompressed models, so UNCOMPRESSED loads would "
                f"fail (asked about {raw}): {exc}",
                DROP_UNCOMPRESSED,
            ),
        )
    except ModelNotFoundError:
        return UncompressedProbe(
            raw,
            url,
            warning=(
                f"could not check that the hub serves uncompressed models: it has no {raw} "
                f"({url} is HTTP 404); check with --probe HANDLE naming a model it has"
            ),
        )
    except HubmagicError as exc:
        return UncompressedProbe(
            raw,
            url,
            warning=(
                f"could not check that the hub serves uncompressed models ({exc}); "
                "UNCOMPRESSED loads need it"
            ),
        )
    return UncompressedProbe(raw, url, location=location)
