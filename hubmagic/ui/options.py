"""The options ``%hub_setup`` and ``hubmagic setup`` share: declared once, checked once.

Both front ends are argparse underneath (IPython's ``magic_arguments`` wraps
it), so each option is one :class:`Option` added to both parsers, and
:func:`setup_arguments` turns the parsed options into the arguments of
:func:`hubmagic.setup`, with the checks that span options. Nothing here
imports IPython: the command line uses it too.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from hubmagic.core.errors import InvalidSettingError
from hubmagic.plan.modes import DEFAULT_PROBE_HANDLE, MODES


@dataclass(frozen=True)
class Option:
    """One argparse argument: its flags and ``add_argument`` keywords."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


SETUP_OPTIONS = (
    Option(
        ("mode",),
        {
            "nargs": "?",
            "default": "auto",
            "help": "auto (default: detect), or force a profile: local, cpu, gpu or tpu.",
        },
    ),
    Option(
        ("--cache",),
        {"metavar": "DIR", "help": "cache folder or gs://bucket/prefix (TFHUB_CACHE_DIR)."},
    ),
    Option(
        ("--uncompressed",),
        {
            "action": "store_true",
            "help": "read models straight from GCS (TFHUB_MODEL_LOAD_FORMAT=UNCOMPRESSED), "
            "after checking that the hub serves them.",
        },
    ),
    Option(
        ("--probe",),
        {
            "metavar": "HANDLE",
            "help": "with --uncompressed: the model to ask the hub about "
            f"(default: {DEFAULT_PROBE_HANDLE}, on HUBMAGIC_ENDPOINT).",
        },
    ),
    Option(
        ("--io-device",),
        {"metavar": "DEV", "help": "TensorFlow LoadOptions io device, e.g. /job:localhost."},
    ),
    Option(
        ("--endpoint",),
        {"metavar": "URL", "help": "mirror for tfhub.dev / Kaggle (HUBMAGIC_ENDPOINT)."},
    ),
)


def add_setup_options(parser: argparse.ArgumentParser) -> None:
    """Adds :data:`SETUP_OPTIONS` to an argparse parser (the command line's)."""
    for option in SETUP_OPTIONS:
        parser.add_argument(*option.flags, **option.kwargs)


def setup_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`hubmagic.setup` (but ``dry_run``) for parsed options.

    Raises:
        InvalidSettingError: an unknown mode, or ``--probe`` without ``--uncompressed``.
    """
    if args.mode not in MODES:
        raise InvalidSettingError(f"unknown mode {args.mode!r}; use one of {', '.join(MODES)}.")
    if args.probe is not None and not args.uncompressed:
        raise InvalidSettingError("--probe goes with --uncompressed.")
    return {
        "mode": args.mode,
        "cache": args.cache,
        "uncompressed": args.uncompressed,
        "io_device": args.io_device,
        "endpoint": args.endpoint,
        "probe_handle": args.probe,
    }
