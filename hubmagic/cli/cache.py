"""``hubmagic cache ls|verify|rm|repair|prune|clear``: what ``%hub_cache`` does.

Every action is :func:`hubmagic.core.actions.cache_action`; this module only
parses, calls it and renders the record.
"""

from __future__ import annotations

import argparse
import re
import sys

from hubmagic.cli.common import CommandError, Subparsers, add_cache_option, add_json, print_json
from hubmagic.core import config
from hubmagic.core.actions import cache_action
from hubmagic.core.cache import require_cache_folder
from hubmagic.core.errors import InvalidSettingError
from hubmagic.ui.wording import cache_action_lines, not_done_text


def _size_arg(text: str) -> int:
    try:
        return config.parse_size(text)
    except InvalidSettingError as error:
        raise argparse.ArgumentTypeError(error.message) from None


def add(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "cache",
        help="list, verify and clean the model cache (what %%hub_cache does)",
        description=(
            "List, verify and clean the model cache. rm, repair, prune and clear print what "
            "they would delete and how much it frees, and delete only with --yes (each "
            "model under its lock: what another process is downloading is not touched)."
        ),
    )
    actions = parser.add_subparsers(title="actions", metavar="ACTION", dest="action")
    actions.required = True

    def action(name: str, help_text: str, *, destructive: bool = False) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        add_cache_option(sub)
        add_json(sub, "the plan (and the result with --yes)" if destructive else "the report")
        if destructive:
            sub.add_argument(
                "--yes", action="store_true", help="really delete (without it: only the plan)"
            )
        sub.set_defaults(func=run, command=f"cache {name}", handles=[], max_size=None, yes=False)
        return sub

    action("ls", "list every entry: status, size, last used, handle")
    action("verify", "check every entry; exit code 1 when one needs attention")
    rm = action(
        "rm", "remove the entries of the given handles, cache keys or paths", destructive=True
    )
    rm.add_argument("handles", metavar="HANDLE", nargs="+", help="handles, cache keys or paths")
    action("repair", "remove partial folders, orphan tmp folders and stale locks", destructive=True)
    prune = action(
        "prune", "remove least recently used models until the cache fits", destructive=True
    )
    prune.add_argument(
        "--max-size",
        metavar="SIZE",
        type=_size_arg,
        required=True,
        help="the size to keep the cache under, e.g. 500M or 20G",
    )
    # "--max-size -1G" is a (bad) size, not an option: the size check says what is wrong.
    prune._negative_number_matcher = re.compile(r"^-\.?\d")
    action("clear", "remove every entry (those being downloaded are skipped)", destructive=True)


def run(args: argparse.Namespace) -> int:
    if args.cache is not None:
        require_cache_folder(args.cache)
    result = cache_action(
        args.action,
        handles=args.handles,
        max_bytes=args.max_size,
        yes=args.yes,
        cache_dir=args.cache,
    )
    if args.json:
        print_json(result)
    else:
        print("\n".join(cache_action_lines(result, "cli")))
    sys.stdout.flush()
    not_done = not_done_text(result)
    if not_done is not None:
        raise CommandError(not_done)
    return 0 if result.ok else 1
