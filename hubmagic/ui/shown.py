"""What ``%hub_setup``, ``%hub_cache`` and ``%hub_info`` return: records that show themselves.

Each magic returns one record and prints nothing: IPython's display of the
returned value *is* the output, shown once. A notebook gets ``_repr_html_``
(sections, tables, problems in the theme's error colour), a terminal
``_repr_pretty_``: the text form, exactly as ``hubmagic setup`` / ``cache`` /
``info`` print it. Both lay out the same wording (:meth:`SetupPlan.parts
<hubmagic.plan.records.SetupPlan.parts>`, :mod:`hubmagic.ui.wording`).

A record that holds a problem must not go unseen when IPython does not display
it (``plan = %hub_setup``, or a magic that is not the cell's last line): the
magic hands it to :data:`UNSEEN`, and the ``post_execute`` hook that
:func:`hubmagic.ui.magics.load` registers displays it once if nothing rendered
it during the cell. (A trailing ``;`` does not silence a line magic: IPython
passes it to the magic, which ignores it.)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol

from hubmagic.core.actions import CacheActionResult
from hubmagic.core.errors import Front
from hubmagic.plan.info import InfoReport
from hubmagic.plan.records import SetupPlan
from hubmagic.ui import html, wording

DRY_RUN_NOTE = "(dry run: nothing was changed)"
_PART_TONES: dict[str, html.Tone] = {"problems": "error", "warnings": "warn"}


class Seen:
    """Whether a record was rendered: the one mutable part of a frozen record."""

    __slots__ = ("rendered",)

    def __init__(self) -> None:
        self.rendered = False


class Shown(Protocol):
    @property
    def seen(self) -> Seen: ...

    @property
    def needs_attention(self) -> bool: ...


class _Display:
    """The text and HTML forms of a record; rendering either marks it seen."""

    seen: Seen

    def text(self) -> str:
        raise NotImplementedError

    def html(self) -> str:
        raise NotImplementedError

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        self.seen.rendered = True
        printer.text(self.text())

    def _repr_html_(self) -> str:
        self.seen.rendered = True
        return self.html()


@dataclass(frozen=True, repr=False, eq=False)
class ShownPlan(_Display, SetupPlan):
    """The :class:`SetupPlan` ``%hub_setup`` returns: still a plan, shown as its text.

    Equal to the plan it shows (``front`` and ``dry_run`` only change how it reads).
    """

    front: Front = field(default="magic", compare=False)
    dry_run: bool = field(default=False, compare=False)
    seen: Seen = field(default_factory=Seen, init=False, compare=False, repr=False)

    @classmethod
    def of(cls, plan: SetupPlan, front: Front = "magic", *, dry_run: bool = False) -> ShownPlan:
        values = {f.name: getattr(plan, f.name) for f in dataclasses.fields(SetupPlan)}
        return cls(**values, front=front, dry_run=dry_run)

    def as_plan(self) -> SetupPlan:
        """The plain :class:`SetupPlan`."""
        return SetupPlan(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SetupPlan)})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ShownPlan):
            other = other.as_plan()
        if isinstance(other, SetupPlan):
            return self.as_plan() == other
        return NotImplemented

    __hash__ = SetupPlan.__hash__

    @property
    def needs_attention(self) -> bool:
        return not self.ok

    def text(self) -> str:
        return self.describe(self.front) + (f"\n{DRY_RUN_NOTE}" if self.dry_run else "")

    def html(self) -> str:
        body = []
        for part in self.parts(self.front):
            if part.kind == "runtime":
                title = f'<span style="font-weight:600">{html.esc(part.heading)}</span> '
                body.append(f"<div>{title}{html.esc(' '.join(part.items))}</div>")
            elif part.kind == "env":
                pairs = [item.partition("=")[::2] for item in part.items]
                body.append(html.section(part.heading, [html.table(pairs)], kind="env"))
            else:
                tone = _PART_TONES.get(part.kind)
                inner = [html.items(part.items, tone=tone, fixes=part.fixes)]
                if part.note is not None:
                    inner.append(html.line(part.note))
                body.append(html.section(part.heading, inner, tone=tone, kind=part.kind))
        if self.dry_run:
            body.append(html.line(DRY_RUN_NOTE, tone=None))
        return html.report("plan", body)


@dataclass(frozen=True, repr=False)
class _Report(_Display):
    """A report a magic returns: a record of the layers below, shown for ``front``."""

    front: Front = field(default="magic", kw_only=True)
    seen: Seen = field(default_factory=Seen, init=False, compare=False, repr=False)

    # IPython's pretty printer takes a class's own __repr__ over an inherited
    # _repr_pretty_: this class has both, and its subclasses neither.
    _repr_pretty_ = _Display._repr_pretty_

    def __repr__(self) -> str:
        return f"<{type(self).__name__}{self.state}>"

    @property
    def state(self) -> str:
        """What the short repr says after the class name."""
        raise NotImplementedError


@dataclass(frozen=True, repr=False)
class CacheReport(_Report):
    """What ``%hub_cache`` returns: the core's :class:`CacheActionResult`, shown."""

    result: CacheActionResult

    @property
    def state(self) -> str:
        return f" {self.result.action}: {'ok' if self.ok else 'needs attention'}"

    @property
    def ok(self) -> bool:
        return self.result.ok

    @property
    def needs_attention(self) -> bool:
        return not self.result.ok

    @property
    def not_done(self) -> str | None:
        """The one line for what was asked and not done (the magic's UsageError)."""
        return wording.not_done_text(self.result)

    def to_dict(self) -> dict[str, object]:
        return self.result.to_dict()

    def text(self) -> str:
        return "\n".join(wording.cache_action_lines(self.result, self.front))

    def html(self) -> str:
        result = self.result
        body: list[str] = []
        if result.info is not None:
            rows = result.info.table_rows()
            body.append(html.table(rows[1:], header=rows[0]))
            trailer = result.info.export_as_table().splitlines()[len(rows) + 1 :]
            body += html.text_sections(trailer, {"Problems:": "error", "Warnings:": "warn"})
        elif result.report is not None:
            report = result.report
            tone: html.Tone = None if report.ok else "error"
            first, *problems = report.lines()
            inner = [html.items([p.strip() for p in problems], tone=tone)] if problems else []
            inner += [html.line(fix) for fix in wording.fix_line(report.fix, self.front)]
            body.append(html.section(first, inner, tone=tone, kind="verify"))
        else:
            lines = wording.cache_action_lines(result, self.front)
            plan_lines = lines[0].splitlines()
            body.append(
                html.section(plan_lines[0], [html.line(x, mono=True) for x in plan_lines[1:]])
            )
            for done in lines[1:]:
                first, *rest = done.splitlines()
                body.append(html.section(first, [html.line(x, mono=True) for x in rest]))
        if self.not_done is not None:
            body.append(html.section(None, [html.line(self.not_done, tone="error")], tone="error"))
        return html.report("cache", body)


@dataclass(frozen=True, repr=False)
class InfoShown(_Report):
    """What ``%hub_info`` returns: the :class:`~hubmagic.plan.info.InfoReport`, shown."""

    report: InfoReport

    @property
    def state(self) -> str:
        failed = ", ".join(s.name for s in self.report.errors)
        return f": could not read {failed}" if failed else ""

    @property
    def needs_attention(self) -> bool:
        """A section could not be collected."""
        return bool(self.report.errors)

    def to_dict(self) -> dict[str, object]:
        return self.report.to_dict()

    def text(self) -> str:
        return "\n".join(wording.info_lines(self.report, self.front))

    def html(self) -> str:
        return html.report("info", html.text_sections(wording.info_lines(self.report, self.front)))


class Unseen:
    """The records of this cell that need attention and may not be displayed."""

    def __init__(self) -> None:
        self.pending: list[Shown] = []

    def expect(self, record: Shown) -> None:
        """Remembers ``record`` when it holds a problem (shown after the cell if unseen)."""
        if record.needs_attention:
            self.pending.append(record)

    def clear(self) -> None:
        self.pending.clear()

    def show(self) -> None:
        """Displays, once, each pending record that nothing rendered."""
        pending, self.pending = self.pending, []
        unseen = [r for r in pending if not r.seen.rendered]
        if unseen:
            from IPython.display import display

            for record in unseen:
                display(record)  # type: ignore[no-untyped-call]


UNSEEN = Unseen()
