"""Applying directives: the smallest edit of a plan that answers each one.

Director directives edit a copy of the plan; Producer directives only say which scenes to
encode again. Every edit keeps the plan's promises: replacement text is picked from the
product's verified claims and approved copy (``{interest}`` slots filled only with the
user's own interest) and checked with :func:`adloom.grounding.grounding_problem` before it
is used, prohibited terms are never picked, and scene timing still tiles the duration.
A directive that cannot be applied is skipped with its reason; the revised plan gets a new
``plan_id`` with a round suffix and one note per change, so a reader can follow each round.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from adloom.director.grounding import brand_palette
from adloom.director.storyboard import WORDS_PER_S, label_problem, line_limit
from adloom.domain import (
    Asset,
    Background,
    Camera,
    Campaign,
    Context,
    CreativePlan,
    Directive,
    Disclosure,
    GroundedText,
    Scene,
    UserProfile,
)
from adloom.errors import AdloomError
from adloom.grounding import fill, grounding_problem, normalize, slot_names
from adloom.verifier.checks import find_terms

#: Shortest a scene may become when another scene's timing changes.
MIN_SCENE_S = 1.0

#: Copy roles each scene role's on-screen text comes from, best first, as the storyboard
#: picks them; product and proof scenes show verified claims first.
ON_SCREEN_ROLES: dict[str, tuple[str, ...]] = {
    "hook": ("hook", "headline"),
    "context": ("slogan", "headline", "body"),
    "product": ("headline",),
    "proof": (),
    "cta": ("slogan", "headline"),
}
NARRATION_ROLES: dict[str, tuple[str, ...]] = {
    "hook": ("hook", "headline"),
    "context": ("body", "slogan", "headline"),
    "product": ("headline",),
    "proof": (),
    "cta": ("cta", "headline"),
}
CTA_ROLES = ("cta", "headline", "slogan")
CLAIMS_LEAD = frozenset({"product", "proof"})
#: Cameras tried, in turn, for a scene that moves too little.
CAMERAS: tuple[Camera, ...] = ("zoom_in", "pan_right", "pan_left", "zoom_out")
Position = Literal["center", "bottom", "top"]
#: Where text may be moved, safest first: the centre is inside every safe zone.
POSITIONS: tuple[Position, ...] = ("center", "bottom", "top")
TEXT_FIELDS = ("on_screen_text", "narration")
#: Order directives are applied in: whole-plan changes first, then timing, then text.
_ORDER = {
    "fallback_generic": 0,
    "restore_context": 1,
    "retime": 2,
    "swap_hook": 3,
    "recaption": 3,
    "drop_claim": 3,
}


@dataclass(frozen=True)
class Skipped:
    """A directive that could not be applied, and why (recorded in the plan's notes)."""

    directive: Directive
    reason: str


@dataclass(frozen=True)
class Revision:
    """A revised plan and what the Producer must do with it."""

    plan: CreativePlan
    applied: list[Directive]
    skipped: list[Skipped]
    #: Scenes to encode again even if their content did not change (execution faults).
    fresh_scenes: list[int]
    #: Every scene must be encoded again (file-level faults, a new frame size).
    full_rerender: bool


def next_plan_id(plan_id: str) -> tuple[str, int]:
    """``plan_id`` with its round suffix advanced (``x`` -> ``x.r1`` -> ``x.r2``), and the round."""
    m = re.fullmatch(r"(.*)\.r(\d+)", plan_id)
    base, n = (m.group(1), int(m.group(2))) if m else (plan_id, 0)
    return f"{base}.r{n + 1}", n + 1


def max_chars(context: Context) -> int:
    return line_limit(context)


def tile(
    scenes: Sequence[Scene], durations: Sequence[float], fps: int, total: float
) -> list[Scene]:
    """``scenes`` with new lengths, cut on whole frames, ending exactly at ``total``."""
    bounds = [0.0]
    acc = 0.0
    for d in durations[:-1]:
        acc += d
        bounds.append(round(acc * fps) / fps)
    bounds.append(total)
    return [
        s.model_copy(
            update={
                "start_s": round(bounds[i], 6),
                "duration_s": round(bounds[i + 1] - bounds[i], 6),
            }
        )
        for i, s in enumerate(scenes)
    ]


def retimed(
    scenes: Sequence[Scene], index: int, seconds: float, fps: int, total: float
) -> list[Scene] | None:
    """Scene ``index`` made ``seconds`` long; the time goes to (or comes from) the scenes
    after it, in proportion to their length, so no single neighbour inherits the problem.
    None when nothing would change by a frame."""
    durs = [s.duration_s for s in scenes]
    others = list(range(index + 1, len(scenes))) or list(range(index))
    if not others:
        return None
    seconds = max(MIN_SCENE_S, seconds)
    room = sum(durs[j] - MIN_SCENE_S for j in others)
    delta = durs[index] - seconds
    if delta < 0 and -delta > room:
        delta = -max(0.0, room)
    if abs(delta) < 0.5 / fps:
        return None
    new = list(durs)
    new[index] = durs[index] - delta
    weights = [durs[j] if delta > 0 else durs[j] - MIN_SCENE_S for j in others]
    for j, w in zip(others, weights, strict=True):
        new[j] += delta * w / sum(weights)
    return tile(scenes, new, fps, total)


def licensed(asset: Asset, today: date | None = None) -> bool:
    expires = asset.license.expires
    return expires is None or expires >= (today or date.today())


def _at(d: Directive) -> str:
    return d.action + ("" if d.scene_index is None else f" scene {d.scene_index}")


def _list(params: dict[str, Any], key: str) -> list[str]:
    value = params.get(key, [])
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


class _Editor:
    """A copy of the plan being revised, and the bookkeeping of one round."""

    def __init__(
        self,
        plan: CreativePlan,
        campaign: Campaign,
        profile: UserProfile | None,
        generic: CreativePlan | None,
    ) -> None:
        self.original = plan
        self.plan = plan.model_copy(deep=True)
        self.campaign = campaign
        try:
            self.product = campaign.product(plan.product_id)
        except KeyError:
            raise AdloomError(
                f"plan.product_id: campaign {campaign.id!r} has no product {plan.product_id!r}"
            ) from None
        self.profile = profile
        self.generic = generic
        self.plan_id, self.round = next_plan_id(plan.plan_id)
        self.notes: list[str] = []
        self.fresh: set[int] = set()
        self.full = False
        self.replaced = False

    # ------------------------------------------------------------------ helpers

    def note(self, text: str) -> None:
        self.notes.append(f"round {self.round}: {text}")

    @property
    def slot_values(self) -> tuple[str, ...]:
        """Allowed ``{interest}`` fills, as the Verifier's grounding check reads them."""
        if self.profile is not None:
            return tuple(i.label for i in self.profile.interests)
        if self.plan.kind == "personalized" and self.plan.matching.interest:
            return (self.plan.matching.interest,)
        return ()

    def label_for(self, template: str) -> str | None:
        """The plan's interest when it may fill ``template`` (personalized plans only)."""
        label = self.plan.matching.interest
        if (
            self.plan.kind != "personalized"
            or label is None
            or slot_names(template) != ["interest"]
        ):
            return None
        if normalize(label) not in {normalize(v) for v in self.slot_values}:
            return None
        return None if label_problem(label, template) else label

    def tiers(
        self, roles: Iterable[str], claims: str, *, templates: bool
    ) -> list[list[GroundedText]]:
        """Approved texts in tiers of preference: the copy of ``roles`` (in that order) and
        the verified claims; ``claims`` is 'first', 'last' or 'only'."""
        claim_items = [
            GroundedText(text=c.text, source="claim", source_id=c.id)
            for c in self.product.verified_claims
        ]
        copy: list[GroundedText] = []
        seen: set[str] = set()
        for role in roles:
            for line in self.product.copy_of(role):
                if line.id in seen:
                    continue
                seen.add(line.id)
                if not line.is_template:
                    copy.append(GroundedText(text=line.text, source="copy", source_id=line.id))
                    continue
                label = self.label_for(line.text) if templates else None
                if label is not None:
                    slots = {"interest": label}
                    copy.append(
                        GroundedText(
                            text=fill(line.text, slots),
                            source="copy",
                            source_id=line.id,
                            slots=slots,
                        )
                    )
        order = {"first": [claim_items, copy], "last": [copy, claim_items], "only": [claim_items]}
        return order[claims]

    def used(self, skip: Iterable[tuple[int | None, str]]) -> set[str]:
        """Texts shown or spoken elsewhere in the plan: repeating them is a last resort."""
        leave = set(skip)
        return {normalize(g.text) for s, f, g in self.plan.texts() if (s, f) not in leave}

    def choose(
        self,
        tiers: Sequence[Sequence[GroundedText]],
        *,
        avoid_ids: set[str],
        avoid_texts: set[str],
        limit: int | None,
        seconds: float | None,
        used: set[str],
    ) -> GroundedText | None:
        """The first grounded, allowed candidate of the best tier that has one, preferring
        a line not shown elsewhere: repeating the scene's own kind of line beats switching
        to another kind (a claim in a slogan's place)."""
        terms = self.campaign.policy.prohibited_terms
        for tier in tiers:
            reuse: GroundedText | None = None
            for item in tier:
                key = normalize(item.text)
                if item.source_id in avoid_ids or key in avoid_texts:
                    continue
                if limit is not None and len(item.text) > limit:
                    continue
                if seconds is not None and len(item.text.split()) > WORDS_PER_S * seconds + 1:
                    continue
                if find_terms(item.text, terms):
                    continue
                if grounding_problem(item, self.product, self.slot_values) is not None:
                    continue
                if key not in used:
                    return item
                reuse = reuse or item
            if reuse is not None:
                return reuse
        return None

    def scene(self, d: Directive) -> Scene | str:
        if d.scene_index is None or not 0 <= d.scene_index < len(self.plan.scenes):
            return f"the plan has no scene {d.scene_index}"
        return self.plan.scenes[d.scene_index]

    def set_scenes(self, scenes: list[Scene]) -> None:
        self.plan.scenes = scenes

    # ------------------------------------------------------------------ text

    def recaption(
        self, d: Directive, *, claims_only: bool = False, remove_ok: bool = True
    ) -> str | None:
        fields = _list(d.params, "fields") or (["cta"] if d.scene_index is None else [])
        if {"cta", "cta_url"} & set(fields) or d.scene_index is None:
            return self.recaption_cta(d)
        scene = self.scene(d)
        if isinstance(scene, str):
            return scene
        fields = [f for f in fields if f in TEXT_FIELDS] or ["on_screen_text"]
        templates = bool(d.params.get("templates", True))
        avoid_ids = set(_list(d.params, "avoid"))
        avoid_texts = {normalize(t) for t in _list(d.params, "avoid_texts")}
        old: dict[str, GroundedText] = {}
        for f in fields:
            item = getattr(scene, f)
            if item is not None:
                old[f] = item
                avoid_ids.add(item.source_id)
                avoid_texts.add(normalize(item.text))
        if not old:
            return f"scene {scene.index} has no {' or '.join(fields)} to replace"
        used = self.used((scene.index, f) for f in old)
        changes: list[str] = []
        replaced: dict[str, GroundedText | None] = {}
        for f in TEXT_FIELDS:
            if f not in old:
                continue
            current = old[f]
            # A voice-over that repeated the on-screen line repeats its replacement.
            same = replaced.get(normalize(current.text))
            new = self.choose(
                ([[same]] if same is not None else [])
                + self.candidates(scene, f, current, claims_only=claims_only, templates=templates),
                avoid_ids=avoid_ids,
                avoid_texts=avoid_texts,
                limit=self.limit(f, current, d),
                seconds=None if f == "on_screen_text" else scene.duration_s,
                used=used,
            )
            if new is None:
                if d.params.get("fallback") == "generic" and self.generic is not None:
                    return self.fallback_generic(d)
                if not remove_ok:
                    return f"no other approved line fits scene {scene.index} {f}"
                changes.append(f"{f} {current.text!r} removed (no other approved line fits)")
            else:
                changes.append(f"{f} {current.text!r} -> {new.text!r}")
                used.add(normalize(new.text))
            replaced[normalize(current.text)] = new
            setattr(scene, f, new)
        self.note(f"{_at(d)}: {'; '.join(changes)} ({d.check or d.reason})")
        return None

    def limit(self, f: str, current: GroundedText, d: Directive) -> int | None:
        """Longest replacement allowed: what fits on screen, shorter still when asked."""
        if f != "on_screen_text":
            return None
        fits = max_chars(self.plan.context)
        return min(fits, len(current.text) - 1) if d.params.get("shorter") else fits

    def candidates(
        self, scene: Scene, f: str, current: GroundedText, *, claims_only: bool, templates: bool
    ) -> list[list[GroundedText]]:
        """Tiers of texts that may replace ``current`` in ``f`` of ``scene``: its own copy
        role, then the roles the storyboard uses there; claims lead where claims belong.
        The next claim after ``current`` comes first when only claims will do."""
        roles = (ON_SCREEN_ROLES if f == "on_screen_text" else NARRATION_ROLES)[scene.role]
        if current.source == "copy":
            role = next(
                (c.role for c in self.product.approved_copy if c.id == current.source_id), None
            )
            roles = ((role,) if role else ()) + roles
        lead = current.source == "claim" or scene.role in CLAIMS_LEAD
        claims = "only" if claims_only else "first" if lead else "last"
        tiers = self.tiers(roles, claims, templates=templates)
        return [_after(t, current.source_id) for t in tiers] if claims_only else tiers

    def recaption_cta(self, d: Directive) -> str | None:
        fields = _list(d.params, "fields")
        if "cta_url" in fields:
            url = self.product.landing_url
            if self.plan.cta.url != url:
                self.note(f"cta url {self.plan.cta.url!r} -> the product's {url!r}")
                self.plan.cta.url = url
            if "cta" not in fields:
                return None
        current = self.plan.cta.text
        avoid_ids = {current.source_id, *_list(d.params, "avoid")}
        avoid_texts = {
            normalize(current.text),
            *(normalize(t) for t in _list(d.params, "avoid_texts")),
        }
        role = next((c.role for c in self.product.approved_copy if c.id == current.source_id), None)
        roles = ((role,) if role else ()) + CTA_ROLES
        new = self.choose(
            self.tiers(roles, "last", templates=bool(d.params.get("templates", True))),
            avoid_ids=avoid_ids,
            avoid_texts=avoid_texts,
            limit=max_chars(self.plan.context),
            seconds=None,
            used=self.used([(None, "cta")]),
        )
        if new is None:
            if d.params.get("fallback") == "generic" and self.generic is not None:
                return self.fallback_generic(d)
            return "no other approved line fits the call to action"
        self.plan.cta.text = new
        # The voice-over of the last scene asks with the CTA: it follows the button.
        for scene in self.plan.scenes:
            for f in TEXT_FIELDS:
                item = getattr(scene, f)
                if item is not None and normalize(item.text) == normalize(current.text):
                    fits = f == "on_screen_text" or (
                        len(new.text.split()) <= WORDS_PER_S * scene.duration_s + 1
                    )
                    setattr(scene, f, new if fits else None)
        self.note(f"recaption cta: {current.text!r} -> {new.text!r} ({d.check or d.reason})")
        return None

    def drop_claim(self, d: Directive) -> str | None:
        if d.scene_index is None:
            return self.recaption_cta(d)
        scene = self.scene(d)
        if isinstance(scene, str):
            return scene
        fields = [f for f in _list(d.params, "fields") if f in TEXT_FIELDS] or ["on_screen_text"]
        claims = [f for f in fields if (g := getattr(scene, f)) is not None and g.source == "claim"]
        if not claims:
            return self.recaption(d)
        return self.recaption(d, claims_only=True)

    def swap_hook(self, d: Directive) -> str | None:
        hook = next((s for s in self.plan.scenes if s.role == "hook"), None)
        index = d.scene_index if d.scene_index is not None else (hook.index if hook else None)
        if index is None or not 0 <= index < len(self.plan.scenes):
            return "the plan has no hook scene"
        scene = self.plan.scenes[index]
        fields = ["on_screen_text"]
        if (
            scene.narration is not None
            and scene.on_screen_text is not None
            and normalize(scene.narration.text) == normalize(scene.on_screen_text.text)
        ):
            fields.append("narration")
        params = {**d.params, "fields": fields}
        return self.recaption(
            d.model_copy(update={"scene_index": index, "params": params}), remove_ok=False
        )

    # ------------------------------------------------------------------ timing and context

    def retime(self, d: Directive) -> str | None:
        scene = self.scene(d)
        if isinstance(scene, str):
            return scene
        seconds = d.params.get("duration_s")
        if not isinstance(seconds, int | float) or seconds <= 0:
            return "retime needs a positive params.duration_s"
        if d.params.get("at_most") and scene.duration_s <= seconds + 1e-6:
            return f"scene {scene.index} already lasts {scene.duration_s:g}s"
        if d.params.get("at_least") and scene.duration_s >= seconds - 1e-6:
            return f"scene {scene.index} already lasts {scene.duration_s:g}s"
        ctx = self.plan.context
        scenes = retimed(self.plan.scenes, scene.index, float(seconds), ctx.fps, ctx.duration_s)
        if scenes is None:
            return f"scene {scene.index} cannot become {seconds:g}s (no time to move)"
        side = "after" if scene.index < len(scenes) - 1 else "before"
        self.note(
            f"retime scene {scene.index}: {scene.duration_s:g}s -> "
            f"{scenes[scene.index].duration_s:g}s, the difference spread over the scenes "
            f"{side} it ({d.check or d.reason})"
        )
        self.set_scenes(scenes)
        return None

    def restore_context(self, d: Directive) -> str | None:
        raw = d.params.get("context")
        if isinstance(raw, dict):
            target = Context.model_validate(raw)
        else:
            target = campaign_context(self.campaign, self.plan.context)
        old = self.plan.context
        self.full = True
        if target == old:
            self.note(f"restore_context: already the campaign's context; re-render ({d.check})")
            return None
        scale = target.duration_s / old.duration_s
        durations = [s.duration_s * scale for s in self.plan.scenes]
        self.plan.context = target
        self.set_scenes(tile(self.plan.scenes, durations, target.fps, target.duration_s))
        self.note(
            f"restore_context: {old.aspect_ratio} {old.duration_s:g}s {old.fps}fps -> "
            f"{target.aspect_ratio} {target.duration_s:g}s {target.fps}fps "
            f"({d.check or d.reason})"
        )
        return None

    # ------------------------------------------------------------------ visuals

    def swap_asset(self, d: Directive) -> str | None:
        kind = str(d.params.get("kind", "product_image"))
        avoid = set(_list(d.params, "avoid"))
        candidates = [a for a in self.product.assets_of(kind) if a.id not in avoid and licensed(a)]
        if kind == "logo":
            old = self.plan.logo_asset
            new = candidates[0].id if candidates else None
            self.plan.logo_asset = new
            self.full = True  # the logo is on every frame
            what = f"logo {old!r} -> {new!r}" if new != old else f"logo {old!r} drawn again"
            self.note(f"swap_asset: {what} ({d.check or d.reason})")
            return None
        if kind != "product_image":
            return f"cannot swap assets of kind {kind!r}"
        targets = (
            [self.plan.scenes[d.scene_index]]
            if d.scene_index is not None and 0 <= d.scene_index < len(self.plan.scenes)
            else [s for s in self.plan.scenes if set(s.asset_ids) & avoid]
        )
        if not targets:
            if d.scene_index is not None:
                return f"the plan has no scene {d.scene_index}"
            return "no scene uses the assets to replace"
        images = {a.id for a in self.product.assets_of("product_image")}
        own = [a.id for a in candidates]
        for scene in targets:
            kept = [a for a in scene.asset_ids if a not in avoid and a not in images]
            pick = next((a for a in own if a in scene.asset_ids), own[0] if own else None)
            new_ids = ([pick] if pick else []) + kept
            what = f"{scene.asset_ids} -> {new_ids}"
            if new_ids == scene.asset_ids:
                what = f"{scene.asset_ids} drawn again"
            scene.asset_ids = new_ids
            self.fresh.add(scene.index)
            self.note(f"swap_asset scene {scene.index}: {what} ({d.check or d.reason})")
        return None

    def swap_background(self, d: Directive) -> str | None:
        if d.scene_index is not None:
            scene = self.scene(d)
            if isinstance(scene, str):
                return scene
            targets = [scene]
        else:
            targets = [s for s in self.plan.scenes if s.background.kind == "image"]
            if not targets:
                return "no scene has an image background"
        palette = self.plan.palette or brand_palette(self.product)
        for scene in targets:
            i = scene.index
            colours = [palette[i % len(palette)], palette[(i + 1) % len(palette)]]
            bg = (
                Background(kind="solid", colors=colours[:1])
                if colours[0] == colours[1]
                else Background(kind="gradient", colors=colours)
            )
            self.note(
                f"swap_background scene {i}: {scene.background.kind} -> {bg.kind} "
                f"{', '.join(bg.colors)} ({d.check or d.reason})"
            )
            scene.background = bg
            self.fresh.add(i)
        return None

    def reposition_text(self, d: Directive) -> str | None:
        scene = self.scene(d)
        if isinstance(scene, str):
            return scene
        asked = d.params.get("position")
        wanted: Position = next(
            (p for p in POSITIONS if p == asked and p != scene.text_position),
            next(p for p in POSITIONS if p != scene.text_position),
        )
        self.note(
            f"reposition_text scene {scene.index}: {scene.text_position} -> {wanted} "
            f"({d.check or d.reason})"
        )
        scene.text_position = wanted
        self.fresh.add(scene.index)
        return None

    def regenerate_scene(self, d: Directive) -> str | None:
        scene = self.scene(d)
        if isinstance(scene, str):
            return scene
        camera = d.params.get("camera")
        if camera not in CAMERAS or camera == scene.camera:
            camera = next(c for c in CAMERAS if c != scene.camera)
        self.note(
            f"regenerate_scene {scene.index}: camera {scene.camera} -> {camera} "
            f"({d.check or d.reason})"
        )
        scene.camera = camera
        self.fresh.add(scene.index)
        return None

    # ------------------------------------------------------------------ whole plan

    def fallback_generic(self, d: Directive) -> str | None:
        g = self.generic
        if g is None:
            return "no generic plan was given to fall back to"
        if g.product_id != self.plan.product_id or g.campaign_id != self.plan.campaign_id:
            return f"the generic plan is for {g.campaign_id}/{g.product_id}, not this product"
        reason = str(d.params.get("reason") or d.reason)
        matching = self.plan.matching.model_copy(
            update={
                "personalized": False,
                "interest": None,
                "facets": [],
                "rationale": f"generic: personalization withdrawn after verification: {reason}",
            }
        )
        self.plan = g.model_copy(
            deep=True,
            update={
                "user_id": None,
                "kind": "generic",
                "profile_summary": "",
                "matching": matching,
            },
        )
        self.replaced = True
        self.note(f"fallback_generic: the generic plan {g.plan_id!r} replaces this one ({reason})")
        return None

    def rerender(self, d: Directive) -> str | None:
        if d.params.get("restore_disclosure"):
            policy = self.campaign.policy.disclosure_text
            current = self.plan.disclosure
            if current.text != policy or not current.in_metadata:
                self.plan.disclosure = Disclosure(
                    text=policy, position=current.position, in_metadata=True
                )
                self.note(f"disclosure restored to {policy!r} in label and metadata")
        if d.scene_index is None:
            self.full = True
            self.note(f"rerender every scene ({d.check or d.reason})")
            return None
        if not 0 <= d.scene_index < len(self.plan.scenes):
            return f"the plan has no scene {d.scene_index}"
        self.fresh.add(d.scene_index)
        self.note(f"rerender scene {d.scene_index} ({d.check or d.reason})")
        return None

    def apply(self, d: Directive) -> str | None:
        if d.target == "producer":
            return (
                self.rerender(d)
                if d.action == "rerender"
                else f"{d.action} is not a Producer action"
            )
        if self.replaced:
            return "superseded by fallback_generic"
        handler = _HANDLERS.get(d.action)
        if handler is None:
            if d.action == "update_profile":
                return "a profile update, applied to the profile rather than the plan"
            return f"{d.action} is not a Director action"
        return handler(self, d)

    def revision(self, applied: list[Directive], skipped: list[Skipped]) -> Revision:
        if not applied:
            return Revision(self.original, [], skipped, [], False)
        for s in skipped:
            self.note(f"skipped {_at(s.directive)}: {s.reason}")
        data = self.plan.model_dump()
        data["plan_id"] = self.plan_id
        data["notes"] = [*self.plan.notes, *self.notes]
        plan = CreativePlan.model_validate(data)
        fresh = sorted(i for i in self.fresh if i < len(plan.scenes))
        return Revision(plan, applied, skipped, fresh, self.full)


_HANDLERS: dict[str, Callable[[_Editor, Directive], str | None]] = {
    "recaption": _Editor.recaption,
    "drop_claim": _Editor.drop_claim,
    "swap_hook": _Editor.swap_hook,
    "retime": _Editor.retime,
    "restore_context": _Editor.restore_context,
    "swap_asset": _Editor.swap_asset,
    "swap_background": _Editor.swap_background,
    "reposition_text": _Editor.reposition_text,
    "regenerate_scene": _Editor.regenerate_scene,
    "fallback_generic": _Editor.fallback_generic,
}


def _after(items: list[GroundedText], source_id: str) -> list[GroundedText]:
    """``items`` rotated to start just after ``source_id``: the next claim comes first."""
    k = next((i for i, it in enumerate(items) if it.source_id == source_id), -1)
    return items[k + 1 :] + items[: k + 1]


def campaign_context(campaign: Campaign, current: Context) -> Context:
    """The campaign's context for the plan's platform (else its first)."""
    for ctx in campaign.contexts:
        if ctx.platform == current.platform and ctx.aspect_ratio == current.aspect_ratio:
            return ctx
    for ctx in campaign.contexts:
        if ctx.platform == current.platform:
            return ctx
    return campaign.contexts[0]


def apply(
    plan: CreativePlan,
    directives: Sequence[Directive],
    campaign: Campaign,
    profile: UserProfile | None = None,
    generic: CreativePlan | None = None,
) -> Revision:
    """Apply ``directives`` to a copy of ``plan``.

    ``generic`` is the product's generic plan, what ``fallback_generic`` (and a privacy
    recaption with nothing left to say) falls back to. The plan is never edited in place.
    """
    editor = _Editor(plan, campaign, profile, generic)
    applied: list[Directive] = []
    skipped: list[Skipped] = []
    for d in sorted(directives, key=lambda d: _ORDER.get(d.action, 9)):
        reason = editor.apply(d)
        if reason is None:
            applied.append(d)
        else:
            skipped.append(Skipped(d, reason))
    return editor.revision(applied, skipped)
