"""The rule-based Reflector: a table from failed check (and its evidence) to a repair.

Each failed check is attributed either to the plan (the Director decided something wrong:
the profile, matching, tone, hook, copy, cta, an asset or the context) or to the execution
(the Producer made it wrong: rendering, timing, text placement, a mismatched asset, the
metadata), and answered with the smallest directive that fixes it:

* text that is ungrounded, unapproved, prohibited, deceptive or misspelled: ``drop_claim``
  (a claim: the next verified claim) or ``recaption`` (copy: another approved line);
  privacy or injection problems recaption without ``{interest}`` templates and fall back
  to the generic plan when nothing else can be said;
* a hook that runs too long: ``retime``; a creative off the campaign's context:
  ``restore_context``; a wrong or missing product shot or logo: ``swap_asset``; a face,
  nudity or an unlicensed picture behind a scene: ``swap_background``; text out of frame,
  over the label or outside a platform's safe zone: ``reposition_text``, and text that
  covers too much of the frame: a shorter approved line;
* pixels gone wrong (blank, frozen, low quality, unreadable text): ``rerender`` of the
  scenes the evidence names; a missing label, disclosure or provenance: ``rerender`` all;
* personalization that adds nothing: ``fallback_generic``.

An identity mismatch (the creative is not the plan's) has no repair: nothing is proposed,
so the creative stays rejected. Informational evidence (what a check noticed but did not
fail on) is never acted on. Directives are deduplicated, and those for the same scene and
action merge into one.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from adloom.domain import (
    Attribution,
    Campaign,
    CheckResult,
    CreativePlan,
    Directive,
    DirectiveAction,
    Event,
    Evidence,
    GroundedText,
    Product,
    Reflection,
    Scene,
    UserProfile,
    Verdict,
)
from adloom.grounding import normalize
from adloom.reflector.base import Reflector
from adloom.reflector.feedback import FeedbackOptions, FeedbackResult, analyze
from adloom.reflector.revise import CAMERAS, campaign_context
from adloom.registry import Backend, BackendConfig
from adloom.verifier.checks import SEVERITY_RANK

#: Every check name the Verifiers report; overrides must name one of these.
CHECK_NAMES = (
    "container",
    "resolution",
    "frame_rate",
    "duration",
    "blank",
    "frozen",
    "text_layout",
    "identity",
    "grounding",
    "rendered_text",
    "prohibited_terms",
    "disclosure",
    "disclosure_label",
    "motion_smoothness",
    "dynamic_degree",
    "imaging_quality",
    "aesthetics",
    "pacing",
    "ocr_text",
    "brand_spelling",
    "product_visible",
    "logo_visible",
    "deceptive_claims",
    "privacy",
    "injection",
    "nsfw",
    "faces",
    "licensing",
    "provenance",
    "personalization",
    "platform",
)
#: Checks whose failure no revision can repair: when one fails, nothing is proposed.
UNREPAIRABLE = frozenset({"identity"})
#: Actions an override may force on any check: they need nothing from the evidence.
Override = Literal[
    "rerender", "regenerate_scene", "swap_background", "reposition_text",
    "restore_context", "fallback_generic", "none",
]  # fmt: skip
Level = Literal["plan", "execution"]


class RuleReflectorConfig(BackendConfig):
    type: Literal["rules"] = "rules"
    max_directives_per_round: int = Field(
        8, ge=1, le=64, description="Most directives proposed at once; the worst first."
    )
    hook_s: float = Field(2.0, gt=0.0, description="Hook length a pacing repair aims at.")
    max_scene_s: float = Field(
        3.0, gt=0.0, description="Length a pacing repair gives a scene that runs too long."
    )
    min_scene_s: float = Field(
        2.0, gt=0.0, description="Length a pacing repair gives a scene that is too short."
    )
    overrides: dict[str, Override] = Field(
        default_factory=dict,
        description="Per-check action replacing the table's, e.g. {'aesthetics': "
        "'swap_background'}; 'none' leaves that check's failures alone.",
    )
    feedback: FeedbackOptions = Field(default_factory=FeedbackOptions)

    @model_validator(mode="after")
    def _known_checks(self) -> RuleReflectorConfig:
        unknown = sorted(set(self.overrides) - set(CHECK_NAMES))
        if unknown:
            raise ValueError(
                f"overrides: unknown check(s) {', '.join(unknown)} "
                f"(known: {', '.join(CHECK_NAMES)})"
            )
        return self


@dataclass(frozen=True)
class Fix:
    """A rule's reading of one piece of evidence: where the fault lies and the repair."""

    level: Level
    aspect: str
    scene_index: int | None
    action: DirectiveAction | None = None
    params: dict[str, Any] = field(default_factory=dict)
    why: str = ""


@dataclass
class Situation:
    """What a rule may look at besides the evidence."""

    plan: CreativePlan
    campaign: Campaign
    product: Product | None
    profile: UserProfile | None
    config: RuleReflectorConfig

    def scene(self, index: int | None) -> Scene | None:
        if index is not None and 0 <= index < len(self.plan.scenes):
            return self.plan.scenes[index]
        return None

    def scenes_of(self, ev: Evidence) -> list[int]:
        """Scenes the evidence points at: its scene, else those its time range overlaps."""
        if self.scene(ev.scene_index) is not None:
            return [ev.scene_index] if ev.scene_index is not None else []
        if ev.start_s is None:
            return []
        end = ev.start_s if ev.end_s is None else ev.end_s
        return [
            s.index
            for s in self.plan.scenes
            if s.start_s <= ev.start_s < s.end_s or (ev.start_s < s.end_s and s.start_s < end)
        ]

    def hook(self) -> Scene | None:
        return next((s for s in self.plan.scenes if s.role == "hook"), None)


def locate_text(
    ev: Evidence, plan: CreativePlan, *, strict: bool = False
) -> tuple[int | None, list[str], GroundedText] | None:
    """The planned string the evidence is about: (scene or None for the CTA, fields, text).

    Evidence naming a scene but no string is read as its on-screen text, unless
    ``strict``: then it must quote the string or name the field.
    """
    target = normalize(ev.text) if ev.text else None
    message = ev.message.casefold()

    def fields_of(scene: Scene) -> list[str]:
        return [
            f
            for f in ("on_screen_text", "narration")
            if (g := getattr(scene, f)) is not None and normalize(g.text) == target
        ]

    if ev.scene_index is not None and 0 <= ev.scene_index < len(plan.scenes):
        scene = plan.scenes[ev.scene_index]
        found = fields_of(scene) if target else []
        if not found:
            named = [f for f in ("on_screen_text", "narration") if f in message]
            if not named and not strict:
                named = ["on_screen_text", "narration"]
            found = [f for f in named if getattr(scene, f)][:1]
        if found:
            return scene.index, found, getattr(scene, found[0])
        return None
    if target == normalize(plan.cta.text.text) or (not target and message.startswith("cta")):
        return None, ["cta"], plan.cta.text
    if target:
        for scene in plan.scenes:
            found = fields_of(scene)
            if found:
                return scene.index, found, getattr(scene, found[0])
    return None


def _aspect(plan: CreativePlan, scene_index: int | None) -> str:
    if scene_index is None:
        return "cta"
    return "hook" if plan.scenes[scene_index].role == "hook" else "copy"


# --------------------------------------------------------------------------- rules


#: Evidence about a string drawn in the frame that no plan field carries.
_DRAWN = re.compile(r"drawn (scene \d+ )?[a-z_]+:")


def text_fix(ev: Evidence, s: Situation, *, private: bool = False) -> list[Fix]:
    """A shown or spoken string is at fault: replace it with another approved one."""
    message = ev.message.casefold()
    if message.startswith("cta url"):
        return [Fix("plan", "cta", None, "recaption", {"fields": ["cta_url"]})]
    if message.startswith("disclosure"):
        return disclosure_fix(Evidence(check=ev.check, message="plan " + ev.message), s)
    if _DRAWN.match(message):
        return rendering_fix(ev, s)  # drawn by the Producer, never planned
    hit = locate_text(ev, s.plan, strict=private)
    if hit is None:
        if private:
            return private_visual_fix(ev, s)
        return [Fix("plan", "copy", ev.scene_index, why="the offending text is not in the plan")]
    index, fields, item = hit
    params: dict[str, Any] = {
        "fields": fields,
        "avoid": [item.source_id],
        "avoid_texts": sorted({item.text, *([ev.text] if ev.text else [])}),
    }
    aspect = _aspect(s.plan, index)
    if private:
        params |= {"templates": False, "fallback": "generic"}
        if item.slots:
            aspect = "profile"
    action: DirectiveAction = (
        "drop_claim" if item.source == "claim" and index is not None else "recaption"
    )
    return [Fix("plan", aspect, index, action, params)]


def private_visual_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Privacy or injection not in any string: the user's own picture, else the whole idea."""
    scene = s.scene(ev.scene_index)
    if scene is not None and scene.background.kind == "image":
        return [Fix("plan", "profile", scene.index, "swap_background")]
    return [Fix("plan", "profile", None, "fallback_generic", {"reason": ev.message})]


def rendering_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Pixels went wrong: encode again the scenes the evidence names (all if it names none)."""
    scenes = s.scenes_of(ev)
    if not scenes:
        return [Fix("execution", "rendering", None, "rerender")]
    return [Fix("execution", "rendering", i, "rerender") for i in scenes]


def full_fix(aspect: str) -> Callable[[Evidence, Situation], list[Fix]]:
    def rule(ev: Evidence, s: Situation) -> list[Fix]:
        return [Fix("execution", aspect, None, "rerender")]

    return rule


def context_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Size, rate or length off: the plan left the campaign's context, or the file did."""
    want = campaign_context(s.campaign, s.plan.context)
    if s.plan.context != want:
        return [Fix("plan", "context", None, "restore_context", {"context": want.model_dump()})]
    return [Fix("execution", "rendering", None, "rerender")]


def disclosure_fix(ev: Evidence, s: Situation) -> list[Fix]:
    message = ev.message.casefold()
    if message.startswith("plan"):
        return [Fix("plan", "context", None, "rerender", {"restore_disclosure": True})]
    return [Fix("execution", "metadata", None, "rerender")]


def layout_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Text out of frame or over the label moves; planned text that was not drawn re-renders."""
    message = ev.message.casefold()
    index = ev.scene_index if ev.scene_index is not None else len(s.plan.scenes) - 1
    if "not drawn" in message or "missing" in message:
        return rendering_fix(ev, s)
    return [Fix("execution", "text_placement", index, "reposition_text", _position(ev, s))]


def _position(ev: Evidence, s: Situation) -> dict[str, Any]:
    """Away from where the box was: the centre is inside every platform's safe zone."""
    scene = s.scene(ev.scene_index)
    if ev.box is None or scene is None:
        return {"position": "center"}
    h = s.plan.context.size[1]
    mid = ev.box.y + ev.box.h / 2
    wanted = "center" if mid < h / 3 or mid > 2 * h / 3 else "bottom"
    return {"position": wanted}


def platform_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Text under the placement's interface moves; a late brand gets the logo; a format
    the placement or campaign does not take goes back to the campaign's context."""
    message = ev.message.casefold()
    if ev.box is not None or "interface" in message or "safe" in message:
        return layout_fix(ev, s)
    if "brand is not shown" in message:
        return logo_fix(ev, s)
    if "text covers" in message:
        return shorter_text_fix(ev, s)
    return context_fix(ev, s)


def shorter_text_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Too much of the frame under text: a shorter approved line in the scene's caption."""
    scene = s.scene(ev.scene_index)
    if scene is None or scene.on_screen_text is None:
        return [Fix("execution", "text_placement", ev.scene_index, why="no caption to shorten")]
    params = {"fields": ["on_screen_text"], "shorter": True}
    action: DirectiveAction = (
        "drop_claim" if scene.on_screen_text.source == "claim" else "recaption"
    )
    return [Fix("execution", "text_placement", scene.index, action, params)]


def _seconds(pattern: re.Pattern[str], message: str) -> float | None:
    m = pattern.search(message)
    return float(m.group(1)) if m else None


_SHORTEN_TO = re.compile(r"shorten it to (\d+(?:\.\d+)?)s")
_MIN_S = re.compile(r"\(min (\d+(?:\.\d+)?)s\)")
_NEEDS_S = re.compile(r"need (\d+(?:\.\d+)?)s")


def pacing_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """A hook that runs long shrinks to ``hook_s``; a scene too short for its text or too
    short to register grows to what the evidence says it needs."""
    cfg = s.config
    message = ev.message.casefold()
    scene = s.scene(ev.scene_index)
    if scene is None and "hook" in message:
        scene = s.hook()
    if scene is None:
        return [Fix("execution", "timing", None, why="pacing not tied to one scene")]
    needs, at_least = _seconds(_NEEDS_S, message), _seconds(_MIN_S, message)
    fps = s.plan.context.fps
    # A bound, not an exact length: another retime in the same round may already have
    # made the scene short (or long) enough.
    if "shorten" in message or "too long" in message:
        cap = _seconds(_SHORTEN_TO, message)
        limit = cfg.hook_s if scene.role == "hook" else cfg.max_scene_s
        target = math.floor(min(limit, cap if cap is not None else limit) * fps + 1e-6) / fps
        bound = "at_most"
    elif needs is not None or at_least is not None or "too short" in message:
        want = needs if needs is not None else max(cfg.min_scene_s, at_least or 0.0)
        target = math.ceil(want * fps - 1e-6) / fps
        bound = "at_least"
    else:
        return [Fix("execution", "timing", scene.index, why="no timing to change")]
    if abs(scene.duration_s - target) < 1.0 / fps:
        return [Fix("execution", "timing", scene.index, why=f"already {target:g}s")]
    params = {"duration_s": target, bound: True}
    return [Fix("execution", "timing", scene.index, "retime", params)]


def motion_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Too little motion: give the scene (every still scene if none is named) a camera move."""
    scenes = s.scenes_of(ev) or [x.index for x in s.plan.scenes if x.camera == "static"]
    return [
        Fix(
            "execution",
            "rendering",
            i,
            "regenerate_scene",
            {"camera": next(c for c in CAMERAS if c != s.plan.scenes[i].camera)},
        )
        for i in scenes
    ]


def ocr_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Planned text unreadable: re-render; approved-looking text read wrong: replace it."""
    message = ev.message.casefold()
    unreadable = any(w in message for w in ("unreadable", "not found", "missing", "illegible"))
    if not unreadable and locate_text(ev, s.plan) is not None:
        return text_fix(ev, s)
    return rendering_fix(ev, s)


def rendered_text_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """Drawn but never planned is the Producer's fault; planned but unapproved, the plan's."""
    if "not in the plan" in ev.message.casefold():
        return rendering_fix(ev, s)
    return text_fix(ev, s)


def _asset_ids_in(ev: Evidence, product: Product | None) -> list[str]:
    if product is None:
        return []
    said = " ".join(filter(None, [ev.message, ev.text])).casefold()
    return [a.id for a in product.assets if a.id.casefold() in said or a.path.casefold() in said]


def product_image_fix(ev: Evidence, s: Situation) -> list[Fix]:
    own = {a.id for a in s.product.assets_of("product_image")} if s.product else set()
    scenes = s.scenes_of(ev) or [x.index for x in s.plan.scenes if x.role in ("product", "proof")]
    fixes = []
    for i in scenes:
        planned = bool(own & set(s.plan.scenes[i].asset_ids))
        level: Level = "execution" if planned else "plan"
        aspect = "asset_mismatch" if planned else "asset"
        fixes.append(Fix(level, aspect, i, "swap_asset", {"kind": "product_image"}))
    return fixes


def logo_fix(ev: Evidence, s: Situation) -> list[Fix]:
    logos = {a.id for a in s.product.assets_of("logo")} if s.product else set()
    planned = s.plan.logo_asset in logos
    return [
        Fix(
            "execution" if planned else "plan",
            "asset_mismatch" if planned else "asset",
            None,
            "swap_asset",
            {"kind": "logo"},
        )
    ]


def imagery_fix(ev: Evidence, s: Situation) -> list[Fix]:
    """A face without release, nudity or an unlicensed picture: take the picture away."""
    named = _asset_ids_in(ev, s.product)
    if s.product is not None and named:
        asset = s.product.asset(named[0])
        if asset.kind in ("product_image", "logo"):
            index = ev.scene_index if asset.kind == "product_image" else None
            return [Fix("plan", "asset", index, "swap_asset", {"kind": asset.kind, "avoid": named})]
    scenes = s.scenes_of(ev)
    with_image = [i for i in scenes if s.plan.scenes[i].background.kind == "image"]
    if with_image or (not scenes and any(x.background.kind == "image" for x in s.plan.scenes)):
        return [Fix("plan", "asset", i, "swap_background") for i in with_image] or [
            Fix("plan", "asset", None, "swap_background")
        ]
    return [
        Fix(
            "plan",
            "asset",
            i,
            "swap_asset",
            {"kind": "product_image", "avoid": s.plan.scenes[i].asset_ids},
        )
        for i in scenes
        if s.plan.scenes[i].asset_ids
    ] or [Fix("plan", "asset", ev.scene_index, why="no picture to take away")]


def personalization_fix(ev: Evidence, s: Situation) -> list[Fix]:
    return [Fix("plan", "matching", None, "fallback_generic", {"reason": ev.message})]


def identity_fix(ev: Evidence, s: Situation) -> list[Fix]:
    return [Fix("execution", "metadata", None, why="the creative is not this plan's")]


def _private(ev: Evidence, s: Situation) -> list[Fix]:
    return text_fix(ev, s, private=True)


Rule = Callable[[Evidence, Situation], list[Fix]]

#: The attribution table: check name -> rule reading its evidence.
RULES: dict[str, Rule] = {
    "container": full_fix("rendering"),
    "resolution": context_fix,
    "frame_rate": context_fix,
    "duration": context_fix,
    "blank": rendering_fix,
    "frozen": rendering_fix,
    "text_layout": layout_fix,
    "identity": identity_fix,
    "grounding": text_fix,
    "rendered_text": rendered_text_fix,
    "prohibited_terms": text_fix,
    "disclosure": disclosure_fix,
    "disclosure_label": full_fix("rendering"),
    "motion_smoothness": rendering_fix,
    "dynamic_degree": motion_fix,
    "imaging_quality": rendering_fix,
    "aesthetics": rendering_fix,
    "pacing": pacing_fix,
    "ocr_text": ocr_fix,
    "brand_spelling": text_fix,
    "product_visible": product_image_fix,
    "logo_visible": logo_fix,
    "deceptive_claims": text_fix,
    "privacy": _private,
    "injection": _private,
    "nsfw": imagery_fix,
    "faces": imagery_fix,
    "licensing": imagery_fix,
    "provenance": full_fix("metadata"),
    "personalization": personalization_fix,
    "platform": platform_fix,
}


def _overridden(action: Override, ev: Evidence, s: Situation) -> list[Fix]:
    if action == "none":
        return [Fix("execution", "rendering", ev.scene_index, why="left alone by configuration")]
    if action == "fallback_generic":
        return personalization_fix(ev, s)
    if action == "restore_context":
        return [Fix("plan", "context", None, "restore_context")]
    if action == "rerender":
        return rendering_fix(ev, s)
    scenes = s.scenes_of(ev) or [x.index for x in s.plan.scenes]
    level: Level = "plan" if action == "swap_background" else "execution"
    aspect = {"swap_background": "asset", "reposition_text": "text_placement"}.get(
        action, "rendering"
    )
    return [Fix(level, aspect, i, action) for i in scenes]


# --------------------------------------------------------------------------- directives


def directive(check: str, fix: Fix, reason: str) -> Directive:
    assert fix.action is not None
    return Directive(
        target="producer" if fix.action == "rerender" else "director",
        action=fix.action,
        scene_index=fix.scene_index,
        params=dict(fix.params),
        reason=reason,
        check=check,
    )


def _union(a: Any, b: Any) -> Any:
    if isinstance(a, list) and isinstance(b, list):
        return a + [x for x in b if x not in a]
    return a


def merge(directives: Sequence[Directive]) -> list[Directive]:
    """One directive per (target, action, scene): params and reasons merged, first kept.

    A full re-render makes the per-scene ones redundant, and so does falling back to the
    generic plan for every other Director change.
    """
    out: dict[tuple[str, str, int | None], Directive] = {}
    for d in directives:
        key = (d.target, d.action, d.scene_index)
        if key not in out:
            out[key] = d.model_copy(deep=True)
            continue
        have = out[key]
        params = dict(have.params)
        for k, v in d.params.items():
            params[k] = _union(params[k], v) if k in params else v
        checks = [c for c in (have.params.get("checks") or [have.check]) if c]
        if d.check and d.check not in checks:
            checks.append(d.check)
        if len(checks) > 1:
            params["checks"] = checks
        reason = have.reason if d.reason in have.reason else f"{have.reason}; {d.reason}"
        out[key] = have.model_copy(update={"params": params, "reason": reason})
    kept = list(out.values())
    if ("producer", "rerender", None) in out:
        kept = [d for d in kept if d.action != "rerender" or d.scene_index is None]
    if any(d.action == "fallback_generic" for d in kept):
        kept = [d for d in kept if d.target == "producer" or d.action == "fallback_generic"]
    return kept


def signature(d: Directive) -> str:
    """What a directive does, without its wording: equal signatures are the same repair."""
    return json.dumps(
        [d.target, d.action, d.scene_index, {k: v for k, v in d.params.items() if k != "checks"}],
        sort_keys=True,
        default=str,
    )


def blocking(result: CheckResult, evidence: Sequence[Evidence]) -> list[Evidence]:
    """The evidence behind a failure, without the informational kind.

    Checks put their failing problems in the result's message and keep informational
    ones (a flagged input that was left out, a string that is tight but readable) as
    evidence only; acting on those would change what is fine. When the message quotes
    no evidence at all (a summary), all of it counts. Evidence that carries its own
    severity says so directly.
    """
    if any(e.severity is not None for e in evidence):
        return [e for e in evidence if e.severity not in (None, "info")] or [
            e for e in evidence if e.severity is None
        ]
    named = [e for e in evidence if e.message and e.message in result.message]
    return named or list(evidence)


class RuleReflector(Reflector, Backend[RuleReflectorConfig]):
    """Attribution and repair from a fixed table; deterministic and explainable."""

    name: ClassVar[str] = "rules"  # type: ignore[misc]
    Config: ClassVar[type[BackendConfig]] = RuleReflectorConfig

    def fixes(self, check: str, ev: Evidence, s: Situation) -> list[Fix]:
        """The table's reading of one piece of evidence (after the configured overrides)."""
        override = self.config.overrides.get(check)
        if override is not None:
            return _overridden(override, ev, s)
        rule = RULES.get(check)
        if rule is None:
            return [Fix("execution", "rendering", ev.scene_index, why="no rule for this check")]
        return rule(ev, s)

    def reflect(
        self,
        verdict: Verdict,
        plan: CreativePlan,
        campaign: Campaign,
        profile: UserProfile | None = None,
    ) -> Reflection:
        try:
            product: Product | None = campaign.product(plan.product_id)
        except KeyError:
            product = None
        s = Situation(plan, campaign, product, profile, self.config)
        failed = sorted(verdict.failed, key=lambda c: -SEVERITY_RANK[c.severity])
        attributions: list[Attribution] = []
        proposed: list[Directive] = []
        for result in failed:
            evidence = blocking(
                result, [e for e in verdict.evidence if e.check == result.name]
            ) or [Evidence(check=result.name, message=result.message)]
            for ev in evidence:
                for fix in self.fixes(result.name, ev, s):
                    where = "" if fix.scene_index is None else f"scene {fix.scene_index}: "
                    message = f"{where}{ev.message}" + (f" ({fix.why})" if fix.why else "")
                    attributions.append(
                        Attribution(
                            check=result.name,
                            level=fix.level,
                            aspect=fix.aspect,
                            scene_index=fix.scene_index,
                            message=message,
                        )
                    )
                    if fix.action is not None:
                        proposed.append(directive(result.name, fix, f"{result.name}: {ev.message}"))
        blocked = sorted({r.name for r in failed} & UNREPAIRABLE)
        directives = [] if blocked else merge(proposed)
        held = max(0, len(directives) - self.config.max_directives_per_round)
        directives = directives[: self.config.max_directives_per_round]
        return Reflection(
            plan_id=plan.plan_id,
            creative_id=verdict.creative_id,
            decision=verdict.decision,
            attributions=attributions,
            directives=directives,
            rationale=_rationale(verdict, attributions, directives, blocked, held),
        )

    def feedback(
        self,
        events: Sequence[Event],
        plan: CreativePlan,
        profile: UserProfile | None = None,
    ) -> FeedbackResult:
        return analyze(events, plan, profile, self.config.feedback)


def _rationale(
    verdict: Verdict,
    attributions: Sequence[Attribution],
    directives: Sequence[Directive],
    blocked: Sequence[str],
    held: int,
) -> str:
    if not verdict.failed:
        return f"{verdict.decision}: no check failed, nothing to revise."
    plan = sorted({a.check for a in attributions if a.level == "plan"})
    execution = sorted({a.check for a in attributions if a.level == "execution"})
    parts = [f"{verdict.decision}: {len(verdict.failed)} failed check(s)."]
    if plan:
        parts.append(f"Plan: {', '.join(plan)}.")
    if execution:
        parts.append(f"Execution: {', '.join(execution)}.")
    if blocked:
        parts.append(f"{', '.join(blocked)} cannot be repaired: no revision is proposed.")
    elif directives:
        acts = ", ".join(
            d.action + ("" if d.scene_index is None else f"@{d.scene_index}") for d in directives
        )
        parts.append(f"Directives: {acts}.")
        if held:
            parts.append(f"{held} more held for a later round.")
    else:
        parts.append("No rule can repair it.")
    return " ".join(parts)
