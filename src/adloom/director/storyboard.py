"""Scene-level storyboard: hook -> context -> product -> proof -> CTA in 2-3 s slots.

The storyboard writes nothing new. Every string comes from the product's verified
claims or approved copy, or from an approved ``{interest}`` template filled with the
user's own interest label, and each is checked with :func:`adloom.grounding.
grounding_problem` before it is used; a candidate that fails is skipped, never emitted.
Personalized plans lead with the claims the matching ranked highest for the user;
generic plans keep the product's own order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from adloom.director.matching import is_sensitive
from adloom.director.profile import dominant_script
from adloom.domain import (
    Camera,
    Claim,
    Context,
    CopyLine,
    GroundedText,
    Product,
    Scene,
    SceneRole,
    Transition,
)
from adloom.grounding import fill, grounding_problem

MIN_SLOT_S = 2.0
MAX_SLOT_S = 3.0
TARGET_SLOT_S = 2.5
#: Speech rate used to decide whether a line can be narrated within its slot.
WORDS_PER_S = 3.0

FULL_ARC: tuple[SceneRole, ...] = ("hook", "context", "product", "proof", "cta")
PRODUCT_MOVES: tuple[Camera, ...] = ("zoom_in", "pan_left", "pan_right")
PROOF_MOVES: tuple[Camera, ...] = ("static", "zoom_out")

#: Transition between scenes for the dominant presentation style.
TRANSITION_OF_STYLE: dict[str, Transition] = {
    "energetic": "cut",
    "humorous": "cut",
    "informative": "slide",
    "calm": "fade",
    "aesthetic": "fade",
    "inspirational": "fade",
}


def slot_durations(duration_s: float, fps: int) -> list[float]:
    """Slot lengths (2-3 s each, whole frames) that add up to ``duration_s`` exactly.

    The count aims at 2.5 s slots (2 s when that makes room for all five roles); frames
    are spread so no two slots differ by more than one frame. ``duration_s * fps`` not
    being whole costs at most half a frame, absorbed by the last slot so the plan still
    tiles the duration.
    """
    lo = math.ceil(duration_s / MAX_SLOT_S - 1e-9)
    hi = max(lo, math.floor(duration_s / MIN_SLOT_S + 1e-9))
    # Aim at 2.5 s slots, but make room for the full five-beat arc as soon as it fits.
    want = max(math.ceil(duration_s / TARGET_SLOT_S - 1e-9), min(len(FULL_ARC), hi))
    n = min(hi, max(lo, want))
    frames = round(duration_s * fps)
    base, extra = divmod(frames, n)
    counts = [base + (1 if i < extra else 0) for i in range(n)]
    out = [c / fps for c in counts]
    out[-1] = duration_s - sum(out[:-1])
    return out


def roles_for(n: int) -> list[SceneRole]:
    """Scene roles for ``n`` slots: context and proof go first when time is short."""
    if n <= 1:
        return ["cta"]
    if n == 2:
        return ["hook", "cta"]
    if n == 3:
        return ["hook", "product", "cta"]
    if n == 4:
        return ["hook", "context", "product", "cta"]
    middle: list[SceneRole] = ["product" if i % 2 == 0 else "proof" for i in range(n - 3)]
    return ["hook", "context", *middle, "cta"]


def label_problem(label: str, template: str) -> str | None:
    """Why an interest label should not fill ``template`` on screen, or None."""
    if not label.strip() or "{" in label or "}" in label:
        return "empty or malformed"
    if len(label) > 24 or len(label.split()) > 3:
        return "too long for a slot"
    if is_sensitive(label):
        return "a sensitive topic"
    bare = template.replace("{interest}", " ")
    want, got = dominant_script(bare), dominant_script(label)
    if want is not None and got is not None and want != got:
        return f"written in a different script ({got.lower()}) from the copy ({want.lower()})"
    if len(fill(template, {"interest": label})) > 120:
        return "makes the line too long"
    return None


@dataclass
class _Pool:
    """Approved texts not yet used, handed out by role with grounding checked."""

    product: Product
    claims: list[Claim]
    label: str | None
    seed: int
    used: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def _ground_copy(self, line: CopyLine) -> GroundedText | None:
        if line.is_template:
            if self.label is None:
                return None
            problem = label_problem(self.label, line.text)
            if problem is not None:
                note = f"template {line.id!r} not used: interest label {self.label!r} is {problem}"
                if note not in self.notes:
                    self.notes.append(note)
                return None
            slots = {"interest": self.label}
            item = GroundedText(
                text=fill(line.text, slots), source="copy", source_id=line.id, slots=slots
            )
        else:
            item = GroundedText(text=line.text, source="copy", source_id=line.id)
        return item if self._grounded(item) else None

    def _grounded(self, item: GroundedText) -> bool:
        values = [self.label] if self.label else []
        return grounding_problem(item, self.product, values) is None

    def copy(
        self, roles: Sequence[str], *, max_chars: int | None = None, reuse: bool = False
    ) -> GroundedText | None:
        """The first usable line of the first role that has one; templates lead when a
        label is set, and the seed rotates among equally good lines."""
        for role in roles:
            lines = [c for c in self.product.copy_of(role) if reuse or c.id not in self.used]
            if self.label is not None:
                lines = [c for c in lines if c.is_template] + [
                    c for c in lines if not c.is_template
                ]
            lines = _rotate_within(lines, self.seed)
            for line in lines:
                item = self._ground_copy(line)
                if item is not None and (max_chars is None or len(item.text) <= max_chars):
                    self.used.add(line.id)
                    return item
        return None

    def claim(
        self, *, max_chars: int | None = None, reuse: bool = False, avoid: str | None = None
    ) -> GroundedText | None:
        for c in self.claims:
            fits = max_chars is None or len(c.text) <= max_chars
            if fits and c.id != avoid and (reuse or c.id not in self.used):
                item = GroundedText(text=c.text, source="claim", source_id=c.id)
                if self._grounded(item):
                    self.used.add(c.id)
                    return item
        return None


def _rotate_within(lines: list[CopyLine], seed: int) -> list[CopyLine]:
    """Rotate the leading run of equally ranked lines (all templates or none) by ``seed``,
    so different seeds give different, equally grounded variants."""
    if not lines or seed == 0:
        return lines
    n = next((i for i, c in enumerate(lines) if c.is_template != lines[0].is_template), len(lines))
    r = seed % n
    return lines[r:n] + lines[:r] + lines[n:]


#: Longest on-screen line in a 16:9 frame (portrait frames take 8 characters fewer).
MAX_ON_SCREEN_CHARS = 42


def line_limit(context: Context, max_on_screen_chars: int = MAX_ON_SCREEN_CHARS) -> int:
    """The longest on-screen line ``context``'s frame takes (narrower when portrait)."""
    return max_on_screen_chars if context.aspect_ratio == "16:9" else max_on_screen_chars - 8


def _speakable(item: GroundedText | None, seconds: float) -> GroundedText | None:
    if item is None or len(item.text.split()) > WORDS_PER_S * seconds + 1:
        return None
    return item


@dataclass
class Storyboard:
    scenes: list[Scene]
    cta: GroundedText
    notes: list[str]


def build_storyboard(
    product: Product,
    context: Context,
    *,
    claim_order: Iterable[str],
    interest: str | None,
    style: str | None = None,
    seed: int = 0,
    max_on_screen_chars: int = MAX_ON_SCREEN_CHARS,
) -> Storyboard:
    """Scenes (without assets) for ``product`` in ``context``.

    ``interest`` is the label the creative leans on (None for generic); ``claim_order``
    ranks the claims to show first.
    """
    by_id = {c.id: c for c in product.verified_claims}
    claims = [by_id[cid] for cid in claim_order if cid in by_id]
    claims += [c for c in product.verified_claims if c not in claims]
    pool = _Pool(product, claims, interest, seed)
    max_chars = line_limit(context, max_on_screen_chars)
    rng = random.Random(seed)

    durations = slot_durations(context.duration_s, context.fps)
    roles = roles_for(len(durations))
    notes: list[str] = []
    if "context" not in roles or "proof" not in roles:
        dropped = [r for r in ("context", "proof") if r not in roles]
        notes.append(
            f"{context.duration_s:g}s allows {len(roles)} slots: no {' or '.join(dropped)} scene"
        )

    # The CTA is chosen first so that no earlier scene uses up its line.
    cta = (
        pool.copy(["cta"], max_chars=max_chars)
        or pool.copy(["headline"], max_chars=max_chars, reuse=True)
        or pool.copy(["cta", "headline", "slogan", "hook", "body"], reuse=True)
        or pool.claim(max_chars=max_chars, reuse=True)
        or pool.claim(reuse=True)
    )
    if cta is None:  # pragma: no cover - a product always has a verified claim
        raise ValueError(f"product {product.id!r} has no groundable text for a CTA")

    transition = TRANSITION_OF_STYLE.get(style or "", "fade")
    scenes: list[Scene] = []
    start = 0.0
    product_shots = 0
    last_claim: str | None = None
    for index, (role, seconds) in enumerate(zip(roles, durations, strict=True)):
        on_screen: GroundedText | None
        narration: GroundedText | None
        camera: Camera
        if role == "hook":
            on_screen = pool.copy(["hook", "headline"], max_chars=max_chars) or pool.claim(
                max_chars=max_chars
            )
            narration = on_screen
            if len(roles) == 2:  # no product scene: let the voice carry the top claim
                narration = pool.claim() or narration
            camera = "zoom_in"
            visual = f"Hook: {product.name} hero shot"
            visual += f", styled around {interest}" if interest else " on brand colours"
        elif role == "context":
            on_screen = pool.copy(["slogan", "headline", "body"], max_chars=max_chars)
            narration = pool.copy(["body"]) or on_screen
            camera = "pan_right"
            visual = (
                f"Context: {product.name} in the world of {interest}"
                if interest
                else f"Context: {product.name} in everyday {product.category} use"
            )
        elif role in ("product", "proof"):
            on_screen = pool.claim(max_chars=max_chars)
            narration = on_screen or pool.claim()
            if role == "product" and product_shots == 0:
                headline = pool.copy(["headline"])
                narration = headline or narration
                on_screen = on_screen or headline
            if on_screen is None and narration is None and role == "proof":
                # Long formats outlast the approved texts: repeat a claim on screen
                # (not voiced), never the one shown just before.
                on_screen = pool.claim(max_chars=max_chars, reuse=True, avoid=last_claim)
            camera = rng.choice(PRODUCT_MOVES if role == "product" else PROOF_MOVES)
            product_shots += 1
            shown = on_screen.text if on_screen and on_screen.source == "claim" else None
            visual = f"{role.title()}: {product.name} close-up" + (
                f", caption '{shown}'" if shown else ", no caption"
            )
        else:  # cta
            # The button shows the CTA; the headline above it signs off with the slogan
            # (approved copy, reused if an earlier scene showed it) and the voice asks.
            on_screen = pool.copy(["slogan"], max_chars=max_chars, reuse=True)
            narration = cta
            camera = "static"
            visual = f"Call to action: {product.brand} logo beside {product.name}"
        scenes.append(
            Scene(
                index=index,
                role=role,
                start_s=round(start, 6),
                duration_s=round(seconds, 6),
                narration=_speakable(narration, seconds),
                on_screen_text=on_screen,
                visual_description=visual,
                camera=camera,
                transition_in="cut" if index == 0 else transition,
            )
        )
        start += seconds
        for item in (on_screen, narration):
            if item is not None and item.source == "claim":
                last_claim = item.source_id
    notes.extend(pool.notes)
    return Storyboard(scenes=scenes, cta=cta, notes=notes)
