"""The bounded revise loop: verify, reflect, revise, re-render, verify again.

Every round is recorded (:class:`~adloom.domain.RefineRound`) and the loop stops as soon
as the creative is accepted, the round budget is spent, nothing can be proposed or
applied, or a round brings no progress: the failures did not shrink, or the Reflector
proposes a repair it already tried. A loop that cannot converge therefore costs at most
one wasted render, never ``max_rounds`` of them.

Each round renders to its own file beside ``out_path`` (written atomically), so an
earlier creative survives a round that made things worse; when the loop ends, the best
creative seen is kept and, if it is a re-render, moved onto ``out_path`` with its
thumbnail. Scenes are re-rendered selectively: the revision's ``fresh_scenes`` go to a
renderer that takes them, and renderers that do not simply render the whole plan.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from adloom.domain import (
    Campaign,
    Creative,
    CreativePlan,
    Directive,
    RefineResult,
    RefineRound,
    UserProfile,
    Verdict,
)
from adloom.errors import AdloomError
from adloom.producer.base import Renderer
from adloom.reflector.base import Reflector
from adloom.reflector.revise import Revision, apply
from adloom.reflector.rules import signature
from adloom.verifier.base import Verifier
from adloom.verifier.checks import SEVERITY_RANK

_DECISION_RANK = {"accept": 0, "revise": 1, "reject": 2}
Stop = Literal["accepted", "max_rounds", "no_progress", "no_directive", "rejected"]


@dataclass
class Refined:
    """Where the loop ended: the creative kept, its plan and verdict, and every round."""

    plan: CreativePlan
    creative: Creative
    verdict: Verdict
    result: RefineResult


@dataclass
class _Step:
    plan: CreativePlan
    creative: Creative
    verdict: Verdict
    #: Files this round wrote (None for the creative the loop started from).
    video: Path | None = None
    thumbnail: Path | None = None
    seconds: float = 0.0


def badness(verdict: Verdict) -> tuple[int, ...]:
    """How far a verdict is from acceptance, comparable between rounds: the decision, then
    failed checks per severity (worst first), then the pieces of evidence against them."""
    failed = verdict.failed
    by_rank = [sum(SEVERITY_RANK[c.severity] == r for c in failed) for r in (3, 2, 1)]
    names = {c.name for c in failed}
    evidence = sum(e.check in names for e in verdict.evidence)
    return (_DECISION_RANK[verdict.decision], *by_rank, evidence)


def takes_fresh_scenes(renderer: Renderer) -> bool:
    """Whether ``renderer.render`` accepts ``fresh_scenes`` (selective re-encoding)."""
    try:
        params = inspect.signature(renderer.render).parameters
    except (TypeError, ValueError):
        return False
    return "fresh_scenes" in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def _round_path(path: Path, k: int) -> Path:
    return path.with_name(f"{path.stem}.round{k}{path.suffix}")


def render(
    renderer: Renderer,
    plan: CreativePlan,
    campaign: Campaign,
    out_path: Path,
    *,
    thumbnail_path: Path | None,
    fresh_scenes: Collection[int],
) -> tuple[Creative, float]:
    """Render ``plan``, forcing ``fresh_scenes`` where the renderer can; with its wall time."""
    kwargs: dict[str, Any] = {"thumbnail_path": thumbnail_path}
    if takes_fresh_scenes(renderer):
        kwargs["fresh_scenes"] = sorted(fresh_scenes)
    start = time.perf_counter()
    creative = renderer.render(plan, campaign, out_path, **kwargs)
    return creative, time.perf_counter() - start


def _record(k: int, step: _Step, directives: list[Directive], seconds: float) -> RefineRound:
    """Round ``k`` as recorded: a full render lists no scenes, a partial one lists them."""
    scenes: list[int] | None = None
    stats = step.creative.render_stats
    if k > 0 and stats is not None:
        encoded = sorted(set(stats.encoded_scenes))
        if len(encoded) < len(step.plan.scenes):
            scenes = encoded
        seconds = stats.render_s or seconds
    return RefineRound(
        round=k,
        plan_id=step.plan.plan_id,
        creative_id=step.creative.creative_id,
        decision=step.verdict.decision,
        failed_checks=[c.name for c in step.verdict.failed],
        directives=directives,
        rerendered_scenes=scenes,
        render_s=round(seconds, 4),
    )


def refine(
    plan: CreativePlan,
    creative: Creative,
    verdict: Verdict,
    *,
    campaign: Campaign,
    renderer: Renderer,
    verifier: Verifier,
    reflector: Reflector,
    out_path: Path,
    profile: UserProfile | None = None,
    reference: CreativePlan | None = None,
    max_rounds: int = 3,
) -> Refined:
    """Repair ``creative`` (verified as ``verdict``) with at most ``max_rounds`` re-renders.

    ``reference`` is the product's generic plan: the verifier judges personalization
    against it and ``fallback_generic`` falls back to it. Round 0 is the creative given;
    each later round is one revision, rendered and verified.
    """
    if max_rounds < 0:
        raise AdloomError(f"max_rounds: must be 0 or more, got {max_rounds}")
    loop = _Loop(campaign, renderer, verifier, reflector, Path(out_path), profile, reference)
    if creative.thumbnail is not None:
        loop.thumb = loop.out_path.parent / Path(creative.thumbnail).name
    loop.steps.append(_Step(plan, creative, verdict))
    loop.rounds.append(_record(0, loop.steps[0], [], 0.0))
    try:
        stopped = loop.run(max_rounds)
        best = min(range(len(loop.steps)), key=lambda k: (badness(loop.steps[k].verdict), k))
        kept = loop.publish(loop.steps[best])
    finally:
        loop.clean()
    result = RefineResult(
        plan_id=kept.plan.plan_id,
        final_decision=kept.verdict.decision,
        rounds=loop.rounds,
        stopped=stopped,
    )
    return Refined(kept.plan, kept.creative, kept.verdict, result)


@dataclass
class _Loop:
    campaign: Campaign
    renderer: Renderer
    verifier: Verifier
    reflector: Reflector
    out_path: Path
    profile: UserProfile | None
    reference: CreativePlan | None
    thumb: Path | None = None
    steps: list[_Step] = field(default_factory=list)
    rounds: list[RefineRound] = field(default_factory=list)
    #: Signatures of every set of directives proposed so far.
    tried: list[frozenset[str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    def run(self, max_rounds: int) -> Stop:
        """The rounds themselves; returns why they stopped."""
        while True:
            cur = self.steps[-1]
            if cur.verdict.decision == "accept":
                return "accepted"
            stuck: Stop = "rejected" if cur.verdict.decision == "reject" else "no_directive"
            reflection = self.reflector.reflect(cur.verdict, cur.plan, self.campaign, self.profile)
            directives = reflection.directives
            self.rounds[-1] = self.rounds[-1].model_copy(update={"directives": directives})
            if not directives:
                return stuck
            key = frozenset(signature(d) for d in directives)
            if key in self.tried:
                return "no_progress"
            self.tried.append(key)
            k = len(self.steps)
            if k > max_rounds:
                return "max_rounds"
            revision = apply(
                cur.plan, directives, self.campaign, self.profile, generic=self.reference
            )
            if not revision.applied:
                return stuck
            step = self.render(k, revision)
            self.steps.append(step)
            self.rounds.append(_record(k, step, [], step.seconds))
            if step.verdict.decision != "accept" and badness(step.verdict) >= badness(cur.verdict):
                return "no_progress"

    def render(self, k: int, revision: Revision) -> _Step:
        """Render and verify round ``k`` into its own files beside ``out_path``."""
        plan = revision.plan
        fresh = range(len(plan.scenes)) if revision.full_rerender else revision.fresh_scenes
        video = _round_path(self.out_path, k)
        thumbnail = _round_path(self.thumb, k) if self.thumb is not None else None
        self.written += [video] + ([thumbnail] if thumbnail is not None else [])
        creative, seconds = render(
            self.renderer, plan, self.campaign, video, thumbnail_path=thumbnail, fresh_scenes=fresh
        )
        verdict = self.verifier.verify(
            creative, plan, self.campaign, self.profile, reference=self.reference
        )
        return _Step(plan, creative, verdict, video, thumbnail, seconds)

    def publish(self, step: _Step) -> _Step:
        """Move a kept re-render onto ``out_path`` (and its thumbnail beside it)."""
        if step.video is None:
            return step
        os.replace(step.video, self.out_path)
        update: dict[str, Any] = {"path": str(self.out_path)}
        if step.thumbnail is not None and self.thumb is not None and step.thumbnail.exists():
            os.replace(step.thumbnail, self.thumb)
            update["thumbnail"] = str(self.thumb)
        return _Step(step.plan, step.creative.model_copy(update=update), step.verdict)

    def clean(self) -> None:
        """Remove the round files not kept (a kept one was already moved away)."""
        for path in self.written:
            path.unlink(missing_ok=True)
