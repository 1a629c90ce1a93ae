"""Every sentence the front ends show, in one place: phases, errors, reports, info.

Text progress, the widgets, the magics and the ``hubmagic`` command all word
the core's records through these functions, so they cannot drift apart. The
front end is named where the wording differs (a fix says ``hubmagic cache
repair`` to the command line and ``%hub_cache repair`` to a notebook: see
:class:`hubmagic.core.errors.Fix`). Nothing here imports IPython or
ipywidgets: the command line uses it too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubmagic.core.errors import Fix, Front, HubmagicError
from hubmagic.core.lock import parse_holder
from hubmagic.core.progress import Phase, ProgressEvent
from hubmagic.core.units import format_bytes, format_duration, plural

if TYPE_CHECKING:
    from hubmagic.core.actions import CacheActionResult, VerifyReport
    from hubmagic.core.cache import CacheEntry
    from hubmagic.plan.info import InfoReport, Section, SettingsInfo

FINAL_PHASES = (Phase.DONE, Phase.FAILED)
CONFIRM_HINT = "Nothing was deleted: run again with --yes to do it."
LOAD_INTERRUPTED = "interrupted; the cache is unchanged"
LOAD_INTERRUPTED_LOADING = "interrupted while loading; the model is in the cache"


def stopped_text(signal_name: str) -> str:
    """What ``hubmagic`` says when SIGTERM / SIGHUP stopped it (after its cleanup)."""
    return f"stopped by {signal_name}; unfinished downloads were cleaned up"


# -- errors ---------------------------------------------------------------------------


def error_lines(exc: BaseException, front: Front) -> list[str]:
    """An error as its front end shows it: one line, then its fix line if it has one.

    A :class:`HubmagicError` says what is wrong in users' words; anything else
    (a bug, or a library's error that escaped) is named with its type.
    """
    if isinstance(exc, HubmagicError):
        message, fix = exc.describe(front)
        return [message] + ([f"fix: {fix}"] if fix else [])
    return [f"{type(exc).__name__}: {exc}"]


def fix_line(fix: Fix | None, front: Front) -> list[str]:
    """``["fix: ..."]`` for a fix, ``[]`` without one."""
    return [f"fix: {fix.render(front)}"] if fix is not None else []


# -- progress -------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """Throughput and time left, from two points of one download."""

    bytes_per_s: float | None
    seconds_left: float | None


def rate_of(event: ProgressEvent, since: tuple[float, int] | None) -> Rate:
    """The average rate since ``since`` (elapsed, bytes), and the time left at that rate."""
    if since is None:
        return Rate(None, None)
    seconds = event.elapsed - since[0]
    if seconds <= 0.05:
        return Rate(None, None)
    speed = (event.bytes_done - since[1]) / seconds
    left = None
    if event.total and speed > 0:
        left = max(0.0, (event.total - event.bytes_done) / speed)
    return Rate(speed, left)


def short_handle(handle: str, width: int = 60) -> str:
    return handle if len(handle) <= width else "..." + handle[-(width - 3) :]


def waiting_text(event: ProgressEvent, *, short: bool = True) -> str:
    """A WAITING event: whom we wait for, for how long, and when we take the lock over.

    The core's message is ``<whom, what it did so far>; <when we take over>``
    (``hubmagic.core.lock.waiting_message``). ``short`` (a row's phase): ``waiting
    for a lock held by vm-1:42 for 12 s; taking over in 33 s if ...``; else (a
    text line) the whole message with the time waited after its first part.
    """
    who, _, when = event.message.partition("; ")
    waited = f"for {format_duration(event.waited)}"
    if short or not who:
        holder = parse_holder(event.lock_holder or "").label
        who = f"waiting for a lock held by {holder} {waited}"
    else:
        who = f"{who}, {waited}"
    return f"{who}; {when}" if when else who


def phase_text(event: ProgressEvent) -> str:
    """What a download is doing, in a few words (``done in 2.10 s``, ``waiting for ...``)."""
    phase = event.phase
    if phase is Phase.DONE:
        if event.from_cache:
            return "done (from the cache)"
        return f"done in {format_duration(event.elapsed)}"
    if phase is Phase.FAILED:
        return "failed"
    if phase is Phase.WAITING:
        return waiting_text(event)
    if phase is Phase.RETRYING:
        return f"retrying after {event.message}"
    return str((Phase.DOWNLOADING if phase is Phase.STARTED else phase).value)


def row_phase_text(event: ProgressEvent) -> str:
    """The phase as a row shows it: a failure with its message (``failed: HTTP 404 ...``).

    Text views say only "failed" and leave the error to whoever catches it; in
    the panel a row is the only place the error shows, so the row names it.
    """
    text = phase_text(event)
    if event.phase is Phase.FAILED and event.message:
        return f"{text}: {event.message}"
    return text


def transfer_parts(connections: int, resumes: int, retries: int) -> list[str]:
    """``8 connections``, ``2 resumed``, ``3 retries``: each only when there is news.

    One connection says nothing (a single stream reads as it always did); no
    resume and no retry say nothing either.
    """
    parts = [plural(connections, "connection")] if connections > 1 else []
    if resumes > 0:
        parts.append(f"{resumes} resumed")
    if retries > 0:
        parts.append(plural(retries, "retry", "retries"))
    return parts


def event_transfer_parts(event: ProgressEvent) -> list[str]:
    """An event's :func:`transfer_parts`; a finished download has no connection in use."""
    connections = 0 if event.phase in FINAL_PHASES else event.connections
    return transfer_parts(connections, event.resumes, event.retries)


def _with_transfer(text: str, event: ProgressEvent, sep: str = ", ") -> str:
    return sep.join([text, *event_transfer_parts(event)])


def amount_text(event: ProgressEvent, rate: Rate, sep: str = " · ") -> str:
    """Percent, bytes done / total, rate, time left, then connections, resumes and retries.

    Each part as far as it is known (and the last three only when there is
    news: see :func:`transfer_parts`).
    """
    parts: list[str] = []
    if event.total:
        parts += [
            f"{event.fraction or 0.0:.0%}",
            f"{format_bytes(event.bytes_done)} / {format_bytes(event.total)}",
        ]
    elif event.bytes_done or event.phase in (Phase.STARTED, Phase.DOWNLOADING):
        parts.append(format_bytes(event.bytes_done))
    if rate.bytes_per_s is not None and event.phase not in FINAL_PHASES and parts:
        parts.append(f"{format_bytes(rate.bytes_per_s)}/s")
    if rate.seconds_left is not None and event.phase is Phase.DOWNLOADING:
        parts.append(f"{format_duration(rate.seconds_left)} left")
    return sep.join(parts + event_transfer_parts(event))


def progress_line(event: ProgressEvent, rate: Rate) -> str:
    """One download as a line of text: what, how far, how fast, what phase.

    A failure says only that it failed: the error itself is shown once, by
    whoever receives it (the magic, the command, the traceback).
    """
    name = short_handle(event.handle)
    if event.phase is Phase.DONE:
        if event.from_cache:
            return f"{name}: in the cache"
        done = f"done in {format_duration(event.elapsed)}, {format_bytes(event.bytes_done)}"
        return _with_transfer(f"{name}: {done} downloaded", event)
    if event.phase is Phase.FAILED:
        return f"{name}: failed"
    if event.phase is Phase.WAITING:
        return f"{name}: {waiting_text(event, short=False)}"
    if event.phase in (Phase.RETRYING, Phase.CONNECTING):
        return f"{name}: {event.message}"
    amount = amount_text(event, rate, sep=", ")
    return f"{name}: {amount} [{phase_text(event)}]"


def phase_change_line(event: ProgressEvent) -> str | None:
    """The line a multi-download view prints when a download changes phase (None: no line)."""
    name = event.handle
    if event.phase is Phase.DONE:
        if event.from_cache:
            return f"{name}: already in the cache"
        done = f"done, {format_bytes(event.bytes_done)} in {format_duration(event.elapsed)}"
        return _with_transfer(f"{name}: {done}", event)
    if event.phase is Phase.FAILED:
        return f"{name}: failed (the error is printed at the end)"
    if event.phase is Phase.STARTED:
        size = f" ({format_bytes(event.total)})" if event.total else ""
        return f"{name}: downloading{size}"
    if event.phase is Phase.DOWNLOADING:
        return None  # counted in the status line
    return f"{name}: {event.message or event.phase.value}"


def status_text(entry: CacheEntry | None, live: ProgressEvent | None) -> str:
    """A cache entry's status: complete, partial, downloading now 42%, locked by host:pid, ..."""
    from hubmagic.core.cache import Status

    if live is not None:
        if live.phase in (Phase.WAITING, Phase.RETRYING):
            return phase_text(live)
        if live.phase in (Phase.CONNECTING, Phase.EXTRACTING):
            return f"downloading now ({live.phase.value})"
        fraction = live.fraction
        done = f"{fraction:.0%}" if fraction is not None else format_bytes(live.bytes_done)
        return _with_transfer(f"downloading now {done}", live, sep=" · ")
    if entry is None:
        return "downloading now"
    if entry.status is Status.DOWNLOADING:
        if _ours(entry):
            return "downloading now"
        holder = entry.lock_holder
        return f"locked by {holder.label if holder else 'another process'}"
    return str(entry.status.value)


STATUS_KINDS = (
    "complete",
    "partial",
    "downloading",
    "locked",
    "stale-lock",
    "orphan-tmp",
    "waiting",
    "failed",
)
"""The kinds of status a badge shows (its ``data-status`` and its colour)."""


def _ours(entry: CacheEntry) -> bool:
    holder = entry.lock_holder
    return holder is not None and holder.on_this_host and holder.pid == os.getpid()


def status_kind(entry: CacheEntry | None, live: ProgressEvent | None) -> str:
    """Which of :data:`STATUS_KINDS` an entry is in (a live download's phase first)."""
    from hubmagic.core.cache import Status

    if live is not None:
        if live.phase is Phase.WAITING:
            return "waiting"
        return "failed" if live.phase is Phase.FAILED else "downloading"
    if entry is None:
        return "downloading"
    if entry.status is Status.DOWNLOADING:
        return "downloading" if _ours(entry) else "locked"
    return str(entry.status.value).replace(" ", "-")


def badge_text(entry: CacheEntry | None, live: ProgressEvent | None) -> str:
    """A status in a few words (``downloading 42%``): the details go beside it."""
    if live is not None and live.phase in (Phase.STARTED, Phase.DOWNLOADING):
        fraction = live.fraction
        return f"downloading {fraction:.0%}" if fraction is not None else "downloading"
    if live is not None and live.phase is Phase.WAITING:
        return "waiting for a lock"
    if live is not None and live.phase is Phase.FAILED:
        return "failed"
    return status_text(entry, live).replace("downloading now", "downloading")


_AGO_STEPS = (
    (60.0, "minute"),
    (3600.0, "hour"),
    (86400.0, "day"),
    (30.44 * 86400.0, "month"),
    (365.25 * 86400.0, "year"),
)
# Where each unit takes over from the one before (45 s is "1 minute ago", 22 h "1 day").
_AGO_FROM = (45.0, 45 * 60.0, 22 * 3600.0, 26 * 86400.0, 320 * 86400.0)


def ago_text(then: float | None, now: float) -> str:
    """``3 days ago``: how long ago a POSIX time was, in the largest unit that fits."""
    if then is None:
        return "-"
    seconds = now - then
    if seconds < _AGO_FROM[0]:
        return "just now"
    step = max(i for i, start in enumerate(_AGO_FROM) if seconds >= start)
    size, unit = _AGO_STEPS[step]
    return f"{plural(max(1, round(seconds / size)), unit)} ago"


# -- reports --------------------------------------------------------------------------


def verify_lines(report: VerifyReport, front: Front) -> list[str]:
    """The verify report, with the fix for ``front`` when something needs attention."""
    return [*report.lines(), *fix_line(report.fix, front)]


def cache_action_lines(result: CacheActionResult, front: Front) -> list[str]:
    """What a cache action found or did, for ``%hub_cache`` and ``hubmagic cache``."""
    if result.info is not None:
        return [result.info.export_as_table()]
    if result.report is not None:
        return verify_lines(result.report, front)
    assert result.plan is not None
    lines = [result.plan.describe()]
    if result.result is not None:
        lines.append(result.result.describe())
    elif result.plan.has_deletions:
        lines.append(CONFIRM_HINT)
    return lines


def not_done_text(result: CacheActionResult) -> str | None:
    """One line for what a destructive action was asked to do and did not, if anything."""
    if not result.not_done:
        return None
    return "not removed: " + "; ".join(f"{label} ({why})" for label, why in result.not_done)


# -- info -----------------------------------------------------------------------------

SETTING_LABELS = {
    "cache_dir": "cache folder",
    "load_format": "load format",
    "models_from": "models from",
    "io_device": "io device",
    "endpoint": "endpoint",
    "offline": "offline",
    "certificates": "certificates",
    "proxies": "proxies",
    "no_proxy": "no proxy for",
    "kaggle_credentials": "Kaggle credentials",
    "decompressor": "decompressor",
}

CERTIFICATES_OFF = (
    "Warning: the certificates of hub downloads are NOT verified "
    "(TFHUB_DISABLE_CERT_VALIDATION=true): unset it, or point REQUESTS_CA_BUNDLE at the "
    "CA bundle to trust."
)


def settings_rows(settings: SettingsInfo, cache_dir: str | None = None) -> list[tuple[str, str]]:
    """(label, value) of each setting in force; ``cache_dir`` names another cache shown."""
    if cache_dir is not None:
        folder = cache_dir
    else:
        folder = settings.cache_dir + (
            " (tensorflow_hub's default)" if settings.cache_dir_is_default else ""
        )
    return [
        (SETTING_LABELS["cache_dir"], folder),
        (SETTING_LABELS["load_format"], settings.load_format),
        (SETTING_LABELS["models_from"], settings.models_from),
        (SETTING_LABELS["io_device"], settings.io_device or "none (TensorFlow default)"),
        (SETTING_LABELS["endpoint"], settings.endpoint or "none (tfhub.dev / Kaggle)"),
        (SETTING_LABELS["offline"], "yes" if settings.offline else "no"),
        *network_rows(settings),
    ]


def network_rows(settings: SettingsInfo) -> list[tuple[str, str]]:
    """Certificates and proxies (never a login)."""
    rows = [
        (SETTING_LABELS["certificates"], settings.certificates),
        (SETTING_LABELS["proxies"], settings.proxies),
    ]
    if settings.no_proxy:
        rows.append((SETTING_LABELS["no_proxy"], settings.no_proxy))
    rows.append((SETTING_LABELS["decompressor"], settings.decompressor))
    return rows


def kaggle_line(settings: SettingsInfo, indent: str = "  ") -> list[str]:
    """Where Kaggle credentials come from, on a line of its own (its label is longer than
    the settings column: the other rows keep their alignment)."""
    if not settings.kaggle_credentials:
        return []
    return [f"{indent}{SETTING_LABELS['kaggle_credentials']}: {settings.kaggle_credentials}"]


def aligned(rows: list[tuple[str, str]], indent: str = "  ") -> list[str]:
    """``label:   value`` lines with the values in one column."""
    width = max([16, *(len(label) + 3 for label, _ in rows)])
    return [f"{indent}{(label + ':').ljust(width)}{value}" for label, value in rows]


def section_error_lines(section: Section[Any], front: Front) -> list[str]:
    """A section that could not be collected: what failed, and the fix."""
    return [
        f"  could not be read: {section.error}",
        *(f"  {x}" for x in fix_line(section.fix, front)),
    ]


def info_lines(report: InfoReport, front: Front) -> list[str]:
    """``%hub_info`` / ``hubmagic info``: every section, or the error that replaced it."""
    lines: list[str] = []
    runtime = report.runtime.value
    if runtime is not None:
        lines.append(runtime.describe())
    else:
        lines += ["Runtime:", *section_error_lines(report.runtime, front)]
    lines += ["", "Settings in force:"]
    settings = report.settings.value
    if settings is not None:
        lines += aligned(settings_rows(settings))
        lines += kaggle_line(settings)
        if settings.certificates_off:
            lines += ["", CERTIFICATES_OFF]
    else:
        lines += section_error_lines(report.settings, front)
    lines.append("")
    versions = report.versions.value
    if versions is not None:
        named = ", ".join(f"{name} {version}" for name, version in versions.packages)
        lines += [f"Versions: {named}", f"Python {versions.python} on {versions.os}"]
    else:
        lines += ["Versions:", *section_error_lines(report.versions, front)]
    lines.append("")
    cache = report.cache.value
    if cache is not None:
        warned = f" ({plural(len(cache.warnings), 'warning')})" if cache.warnings else ""
        count = plural(cache.entries, "entry", "entries")
        lines.append(f"Cache: {count}, {format_bytes(cache.size)} in {cache.cache_dir}{warned}")
    else:
        lines += ["Cache:", *section_error_lines(report.cache, front)]
    return lines
