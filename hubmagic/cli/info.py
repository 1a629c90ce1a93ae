"""``hubmagic info``: what ``%hub_info`` shows (see :mod:`hubmagic.plan.info`)."""

from __future__ import annotations

import argparse

from hubmagic.cli.common import Subparsers, add_json, print_json
from hubmagic.plan.info import info
from hubmagic.ui.wording import info_lines


def add(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "info",
        help="runtime, evidence, settings and versions (what %%hub_info shows)",
        description=(
            "Print what was detected about this machine (platform, frontend, accelerator, "
            "packages) and why, the settings in force, versions and a cache summary: paste it "
            "into a bug report. TensorFlow is not imported. A part that cannot be read (a "
            "broken cache folder, a bad setting) shows its error and the others are still "
            "printed; the exit code is then 1."
        ),
    )
    add_json(parser, "runtime, evidence, settings, versions and cache summary")
    parser.set_defaults(func=run, command="info")


def run(args: argparse.Namespace) -> int:
    report = info()
    if args.json:
        print_json(report)
    else:
        print("\n".join(info_lines(report, "cli")))
    return 1 if report.errors else 0
