"""A setup plan as records: :class:`SetupPlan`, :class:`Problem`, :class:`UncompressedProbe`.

:func:`~hubmagic.plan.decide.plan_setup` makes a plan and
:func:`~hubmagic.plan.apply.apply_plan` applies it; here is only what a plan
holds and how it reads: :meth:`SetupPlan.parts` (its text, worded once, each
problem's :class:`~hubmagic.core.errors.Fix` named for the front end showing
it), laid out by :meth:`SetupPlan.describe` for a terminal (and by
``hubmagic.ui.shown`` as HTML), and :meth:`SetupPlan.to_dict` for ``hubmagic
setup --json``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hubmagic.core import config
from hubmagic.core.errors import Fix, Front
from hubmagic.core.redact import redact, redact_data
from hubmagic.core.units import plural
from hubmagic.plan.runtime import Runtime

# The last line of the problems, for a plan that was not applied.
NOT_APPLIED = Fix("Nothing was applied: fix the problems above, then run {setup} again.")


@dataclass(frozen=True)
class Problem:
    """Something that will stop models from loading, and what to do about it.

    Attributes:
        message: what is wrong.
        fix: what fixes it; its commands are named per front end
            (``problem.fix.render("magic")``).
    """

    message: str
    fix: Fix

    def to_dict(self) -> dict[str, object]:
        """``{"message", "fix"}``; the fix as every front end says it (``Fix.to_dict``)."""
        return {"message": self.message, "fix": self.fix.to_dict()}


@dataclass(frozen=True)
class UncompressedProbe:
    """What the hub answered when asked for one model in the uncompressed format.

    Attributes:
        handle: the model asked about.
        url: the URL asked (``?tf-hub-format=uncompressed``, endpoint applied);
            ``None`` when nothing was asked (offline).
        location: the ``gs://`` path the hub answered with, when it did.
        problem: the hub does not offer uncompressed models (with the fix).
        warning: the check could not be made (offline, hub unreachable,
            probe model missing); loads may still work.
    """

    handle: str
    url: str | None
    location: str | None = None
    problem: Problem | None = None
    warning: str | None = None


@dataclass(frozen=True)
class PlanPart:
    """One part of a plan's text (:meth:`SetupPlan.parts`): a heading and its items.

    Attributes:
        kind: ``problems``, ``runtime``, ``setup``, ``env`` or ``warnings``.
        heading: ``Problems:``, ``Setup (tpu profile):``, ``Sets:``, ...
        items: one line each (problem messages, reasons, ``NAME=value``, warnings).
        fixes: for problems, each item's ``fix: ...`` line.
        note: a last line (a plan with problems that was not applied says so).
    """

    kind: str
    heading: str
    items: tuple[str, ...] = ()
    fixes: tuple[str, ...] = ()
    note: str | None = None

    def redacted(self) -> PlanPart:
        return PlanPart(
            self.kind,
            redact(self.heading),
            tuple(redact(item) for item in self.items),
            tuple(redact(fix) for fix in self.fixes),
            None if self.note is None else redact(self.note),
        )


@dataclass(frozen=True)
class SetupPlan:
    """What ``%hub_setup`` will set, and why.

    Attributes:
        runtime: the runtime the plan was made for.
        mode: the profile applied: ``local``, ``cpu``, ``gpu`` or ``tpu``.
        cache_dir: the cache folder (a local absolute path or a ``gs://`` URL).
        load_format: ``COMPRESSED`` or ``UNCOMPRESSED``.
        io_device: the ``LoadOptions(experimental_io_device=...)`` for loads,
            ``None`` for TensorFlow's default.
        endpoint: the download mirror in force (given, or already set).
        env: the variables :func:`~hubmagic.plan.apply.apply_plan` sets, in order.
        reasons: one line per decision, saying why.
        warnings: what may surprise the user, without stopping loads.
        problems: what will stop loads, each with a fix. A plan with problems
            is never applied.
        uncompressed_probe: the hub's answer to the uncompressed protocol,
            when it was checked.
        applied: whether this plan was applied (``apply_plan`` returns a copy
            with ``applied=True``).
    """

    runtime: Runtime
    mode: str
    cache_dir: str
    load_format: str
    io_device: str | None
    endpoint: str | None
    env: tuple[tuple[str, str], ...]
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    uncompressed_probe: UncompressedProbe | None = None
    applied: bool = False

    @property
    def models_from(self) -> str:
        """Where loads read model files from, in a few words (panel header, %hub_info)."""
        return models_from(self.cache_dir, self.load_format, self.uncompressed_probe)

    def __repr__(self) -> str:
        # Short, for logs and debuggers: a notebook shows %hub_setup's plan as its
        # text (hubmagic.ui.shown.ShownPlan), not as this line.
        problems = plural(len(self.problems), "problem")
        return (
            f"<SetupPlan {self.mode}: cache_dir={self.cache_dir!r}, load_format="
            f"{self.load_format}, io_device={self.io_device!r}, {problems}>"
        )

    @property
    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    @property
    def ok(self) -> bool:
        """No problem was found (warnings allowed)."""
        return not self.problems

    def parts(self, front: Front = "api") -> tuple[PlanPart, ...]:
        """The plan's text in parts, worded once and redacted: problems first.

        :meth:`describe` lays them out as text; a notebook lays the same parts
        out as HTML (``hubmagic.ui.shown``).
        """
        parts: list[PlanPart] = []
        if self.problems:
            parts.append(
                PlanPart(
                    "problems",
                    "Problems:",
                    tuple(p.message for p in self.problems),
                    tuple(f"fix: {p.fix.render(front)}" for p in self.problems),
                    None if self.applied else NOT_APPLIED.render(front),
                )
            )
        parts.append(PlanPart("runtime", "Runtime:", (self.runtime.summary,)))
        parts.append(PlanPart("setup", f"Setup ({self.mode} profile):", self.reasons))
        sets = "Sets:" if self.ok else "Would set, once the problems are fixed:"
        parts.append(PlanPart("env", sets, tuple(f"{name}={value}" for name, value in self.env)))
        if self.warnings:
            parts.append(PlanPart("warnings", "Warnings:", self.warnings))
        # The endpoint's password stays in env (applying needs it), never in the text.
        return tuple(part.redacted() for part in parts)

    def describe(self, front: Front = "api") -> str:
        """Text for a notebook or a terminal: problems, runtime, decisions, warnings.

        Args:
            front: who shows it (``api``, ``magic`` or ``cli``): each problem's
                fix names the commands as that front end calls them.
        """
        lines: list[str] = []
        for part in self.parts(front):
            if part.kind == "runtime":
                lines.append(f"{part.heading} {' '.join(part.items)}")
                continue
            lines.append(part.heading)
            mark = {"problems": "x ", "setup": "- ", "warnings": "! "}.get(part.kind, "")
            for n, item in enumerate(part.items):
                lines.append(f"  {mark}{item}")
                if n < len(part.fixes):
                    lines.append(f"    {part.fixes[n]}")
            if part.note is not None:
                lines.append(part.note)
            if part.kind == "problems":
                lines.append("")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """The plan as JSON-ready data (``hubmagic setup --json``, which adds ``exports``).

        Redacted like :meth:`describe`: ``env`` here is for reading, not applying.
        """
        return redact_data(
            {
                "mode": self.mode,
                "cache_dir": self.cache_dir,
                "load_format": self.load_format,
                "io_device": self.io_device,
                "endpoint": self.endpoint,
                "models_from": self.models_from,
                "env": dict(self.env),
                "reasons": list(self.reasons),
                "warnings": list(self.warnings),
                "problems": [problem.to_dict() for problem in self.problems],
                "runtime": self.runtime.summary,
                "ok": self.ok,
                "applied": self.applied,
            }
        )


def is_gcs(path: str) -> bool:
    """Whether a cache is a ``gs://`` URL rather than a local folder."""
    return path.startswith("gs://")


def models_from(cache_dir: str, load_format: str, probe: UncompressedProbe | None = None) -> str:
    """Where loads read model files from, in a few words."""
    if load_format == config.UNCOMPRESSED:
        text = "GCS, uncompressed (the hub's gs:// paths; archive URLs use the cache)"
        if probe is not None and probe.location is not None:
            text += f"; checked: {probe.location}"
        elif probe is not None and probe.problem is not None:
            text += "; the hub does not serve them"
        return text
    where = "the gs:// cache" if is_gcs(cache_dir) else "the cache folder"
    return f"{where} (each model downloaded once, compressed)"
