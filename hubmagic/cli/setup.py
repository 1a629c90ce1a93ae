"""``hubmagic setup``: what ``%hub_setup`` decides, printed with the export lines that apply it."""

from __future__ import annotations

import argparse
import shlex
import sys

from hubmagic.cli.common import (
    PROG,
    CommandError,
    Subparsers,
    add_json,
    print_json,
)
from hubmagic.core.errors import InvalidSettingError
from hubmagic.core.redact import REDACTED, redact
from hubmagic.core.units import plural
from hubmagic.plan import setup
from hubmagic.ui.options import add_setup_options, setup_arguments


def add(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "setup",
        help="plan where models are cached and how they load (what %%hub_setup decides)",
        description=(
            "Detect the runtime and plan the cache folder, load format, io device and "
            "endpoint, saying why, like %hub_setup. A command cannot change the environment "
            "of the shell that runs it, so nothing is applied: the plan is printed with the "
            'export lines that apply it; eval "$(hubmagic setup --print-env)" applies it '
            "to the current shell. Exit code 1 when the plan has problems."
        ),
    )
    add_setup_options(parser)
    parser.add_argument(
        "--dry-run", action="store_true", help="only the plan, without the export lines"
    )
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="print only the shell export lines (for eval); the plan goes to stderr",
    )
    add_json(parser, "the plan")
    parser.set_defaults(func=run, command="setup", parser=parser)


def _export_lines(env: tuple[tuple[str, str], ...]) -> list[str]:
    return [f"export {name}={shlex.quote(value)}" for name, value in env]


def _setup_command(args: argparse.Namespace) -> str:
    words = [PROG, "setup"] + ([args.mode] if args.mode != "auto" else [])
    for flag, value in (
        ("--cache", args.cache),
        ("--probe", args.probe),
        ("--io-device", args.io_device),
        ("--endpoint", args.endpoint),
    ):
        if value is not None:
            words += [flag, value]
    if args.uncompressed:
        words.append("--uncompressed")
    return " ".join(shlex.quote(w) for w in words)


_IO_DEVICE_NOTE = (
    "the io device {device} has no environment variable: it applies to hubmagic.load "
    "after hubmagic.setup() or %hub_setup in Python, not to a shell"
)


def run(args: argparse.Namespace) -> int:
    usage: argparse.ArgumentParser = args.parser
    if args.print_env and (args.dry_run or args.json):
        usage.error("--print-env goes with neither --dry-run nor --json")
    try:
        options = setup_arguments(args)
    except InvalidSettingError as error:
        usage.error(error.message)
    # A command cannot change the shell that runs it: the plan is made, never
    # applied here; its export lines are what applying it means for a shell.
    plan = setup(**options, dry_run=True)
    exports = _export_lines(plan.env) if plan.ok else []
    note = _IO_DEVICE_NOTE.format(device=plan.io_device) if plan.io_device else None
    # Only --print-env (for eval) writes the endpoint's password: the rest is read.
    shown = [redact(line) for line in exports]
    if args.json:
        print_json({**plan.to_dict(), "exports": shown})
    elif args.print_env:
        sys.stderr.write(plan.describe("cli") + "\n")
        if plan.ok:
            print("\n".join(exports))
            if note:
                print(f"# {note}")
    else:
        print(plan.describe("cli"))
        if args.dry_run:
            print("(dry run: nothing was changed)")
        elif plan.ok:
            print()
            print("A command cannot change the shell that runs it; to apply the plan, run")
            print(f'  eval "$({redact(_setup_command(args))} --print-env)"')
            print("or paste:")
            print("\n".join(f"  {line}" for line in shown))
            if shown != exports or REDACTED in redact(_setup_command(args)):
                print(f"(with your credentials in place of {REDACTED})")
            if note:
                print(f"Note: {note}.")
    sys.stdout.flush()
    if not plan.ok:
        raise CommandError(
            f"the plan has {plural(len(plan.problems), 'problem')} (see 'Problems:'); "
            "nothing to apply until they are fixed"
        )
    return 0
