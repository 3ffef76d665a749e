"""The typed domain model every stage of the loop speaks.

Campaign inputs (``Campaign``, ``Product``, ``User``, ``Context``) come from advertisers and
users and are validated strictly: unknown fields are errors, not silently dropped. Stage
outputs (``UserProfile``, ``CreativePlan``, ``Creative``, ``Verdict``, ``Directive``,
``Event``) are inspectable data with a JSON Schema, so a plan can be read, edited and fed
back in by hand ("plan as interface").
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

SCHEMA_VERSION = "1"

#: Output sizes per supported aspect ratio (width, height).
RESOLUTIONS: dict[str, tuple[int, int]] = {"16:9": (1280, 720), "9:16": (1080, 1920)}
MIN_DURATION_S = 5.0
MAX_DURATION_S = 60.0
SUPPORTED_FPS = (24, 25, 30)

_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Model(BaseModel):
    """Base for all domain models: unknown fields are rejected."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_id(cls: Any, value: str) -> str:
    if not _ID.match(value):
        raise ValueError(
            f"invalid id {value!r}: use 1-64 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )
    return value


def _hex(value: str) -> str:
    if not _HEX.match(value):
        raise ValueError(f"invalid colour {value!r}: expected #RRGGBB")
    return value.lower()


# --------------------------------------------------------------------------- campaign


class LicenseRecord(Model):
    """Who may use an asset and how; every asset carries one (checked before rendering)."""

    license: str = Field(description="SPDX identifier or 'proprietary'.")
    holder: str
    source: str = Field(description="Where the asset came from (URL, 'made by', studio).")
    attribution: str | None = None
    allows_modification: bool = True
    expires: date | None = None
    model_release: bool = Field(
        False,
        description="A signed release covers every identifiable person shown (portrait "
        "rights); without it, faces found in frames built from this asset are flagged.",
    )


class Asset(Model):
    id: str
    kind: Literal["product_image", "logo", "background", "audio"]
    path: str = Field(description="File path, relative to the campaign file.")
    description: str = ""
    license: LicenseRecord

    valid_id = field_validator("id")(_check_id)


class Claim(Model):
    """A verified product fact. Only these (and approved copy) may appear as product text."""

    id: str
    text: str = Field(min_length=1, max_length=120)
    evidence: str = Field(description="How the claim was verified (test report, spec sheet).")

    valid_id = field_validator("id")(_check_id)


class CopyLine(Model):
    """Advertiser-approved copy. ``{interest}`` marks an approved slot for a user interest."""

    id: str
    role: Literal["headline", "hook", "body", "slogan", "cta"]
    text: str = Field(min_length=1, max_length=120)

    valid_id = field_validator("id")(_check_id)

    @property
    def is_template(self) -> bool:
        return "{interest}" in self.text


class Product(Model):
    id: str
    name: str
    brand: str
    category: str
    description: str = ""
    selling_points: list[str] = Field(
        default_factory=list,
        description="Facets to emphasize (e.g. 'lightweight'); used for matching, not shown.",
    )
    verified_claims: list[Claim]
    approved_copy: list[CopyLine] = Field(default_factory=list)
    assets: list[Asset] = Field(default_factory=list)
    palette: list[str] = Field(default_factory=list, description="Brand colours, #RRGGBB.")
    landing_url: str = "https://example.com"

    valid_id = field_validator("id")(_check_id)

    @field_validator("verified_claims")
    @classmethod
    def _claims_not_empty(cls, value: list[Claim]) -> list[Claim]:
        if not value:
            raise ValueError("a product needs at least one verified claim")
        return value

    @field_validator("palette")
    @classmethod
    def _palette_hex(cls, value: list[str]) -> list[str]:
        return [_hex(v) for v in value]

    def assets_of(self, kind: str) -> list[Asset]:
        return [a for a in self.assets if a.kind == kind]

    def asset(self, asset_id: str) -> Asset:
        for a in self.assets:
            if a.id == asset_id:
                return a
        raise KeyError(f"product {self.id!r} has no asset {asset_id!r}")

    @property
    def logo(self) -> Asset | None:
        logos = self.assets_of("logo")
        return logos[0] if logos else None

    def copy_of(self, role: str) -> list[CopyLine]:
        return [c for c in self.approved_copy if c.role == role]


class Policy(Model):
    """Campaign-wide rules the Director and Verifier enforce.

    Personalization consent is not a setting: a user without it always gets the generic
    creative.
    """

    min_compatibility: float = Field(
        0.35,
        ge=0.0,
        le=1.0,
        description="Below this user-product compatibility the generic creative is used.",
    )
    disclosure_text: str = Field("AI-generated", min_length=2, max_length=40)
    prohibited_terms: list[str] = Field(default_factory=list)


class Budget(Model):
    amount: float = Field(gt=0)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")


class Audience(Model):
    user_ids: list[str] | None = Field(
        None, description="Restrict the campaign to these users; None means everyone given."
    )
    locales: list[str] = Field(default_factory=list)


class Context(Model):
    """Where the creative will run."""

    platform: str = "feed"
    aspect_ratio: str = "16:9"
    duration_s: float = 12.0
    fps: int = 25
    locale: str = "en"

    @field_validator("aspect_ratio")
    @classmethod
    def _aspect(cls, value: str) -> str:
        if value not in RESOLUTIONS:
            raise ValueError(
                f"unsupported aspect ratio {value!r} (supported: {', '.join(RESOLUTIONS)})"
            )
        return value

    @field_validator("duration_s")
    @classmethod
    def _duration(cls, value: float) -> float:
        if not MIN_DURATION_S <= value <= MAX_DURATION_S:
            raise ValueError(
                f"unsupported duration {value:g}s "
                f"(supported: {MIN_DURATION_S:g}-{MAX_DURATION_S:g}s)"
            )
        return value

    @field_validator("fps")
    @classmethod
    def _fps(cls, value: int) -> int:
        if value not in SUPPORTED_FPS:
            raise ValueError(f"unsupported frame rate {value} (supported: {SUPPORTED_FPS})")
        return value

    @property
    def size(self) -> tuple[int, int]:
        return RESOLUTIONS[self.aspect_ratio]


class Campaign(Model):
    id: str
    name: str
    advertiser: str
    objective: Literal["awareness", "consideration", "conversion"]
    budget: Budget
    products: list[Product] = Field(min_length=1)
    audience: Audience = Field(default_factory=Audience)
    policy: Policy = Field(default_factory=Policy)
    contexts: list[Context] = Field(default_factory=lambda: [Context()], min_length=1)

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    valid_id = field_validator("id")(_check_id)

    @model_validator(mode="after")
    def _unique_product_ids(self) -> Campaign:
        ids = [p.id for p in self.products]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate product id(s): {', '.join(dupes)}")
        return self

    @property
    def base_dir(self) -> Path:
        """Directory asset paths are relative to (the campaign file's folder)."""
        return self._base_dir

    def with_base_dir(self, base_dir: Path) -> Campaign:
        self._base_dir = base_dir
        return self

    def asset_path(self, asset: Asset) -> Path:
        path = Path(asset.path)
        return path if path.is_absolute() else self._base_dir / path

    def product(self, product_id: str) -> Product:
        for p in self.products:
            if p.id == product_id:
                return p
        raise KeyError(f"campaign {self.id!r} has no product {product_id!r}")


# --------------------------------------------------------------------------- users


class Consent(Model):
    """Privacy by default: nothing is allowed unless the user said yes."""

    personalization: bool = False
    analytics: bool = False


class Demographics(Model):
    age_range: str | None = None
    gender: str | None = None
    country: str | None = None
    language: str | None = None


class HistoryItem(Model):
    """Something the user engaged with: a note, a video, a purchase."""

    id: str | None = None
    kind: Literal["note", "video", "purchase", "search", "page"] = "note"
    title: str
    text: str = ""
    tags: list[str] = Field(default_factory=list)
    image: str | None = Field(None, description="Image path, relative to the users file.")
    timestamp: datetime | None = None


class User(Model):
    id: str
    demographics: Demographics = Field(default_factory=Demographics)
    consent: Consent = Field(default_factory=Consent)
    history: list[HistoryItem] = Field(default_factory=list)

    valid_id = field_validator("id")(_check_id)


# --------------------------------------------------------------------------- profile


class Interest(Model):
    label: str = Field(description="Short name, from the user's own vocabulary (tags, titles).")
    weight: float = Field(ge=0.0, le=1.0, description="Share of history behind this interest.")
    tier: Literal["strong", "medium", "weak"]
    keywords: list[str] = Field(default_factory=list)
    item_ids: list[str] = Field(default_factory=list)


class Trait(Model):
    label: str
    score: float = Field(ge=0.0, le=1.0)


class VisualCues(Model):
    palette: list[str] = Field(default_factory=list, description="Preferred colours, #RRGGBB.")
    brightness: float | None = Field(None, ge=0.0, le=1.0)
    saturation: float | None = Field(None, ge=0.0, le=1.0)
    source: Literal["history_images", "none"] = "none"


class InputFlag(Model):
    """Something in a user's data the Director refused to use, and why."""

    source: str = Field(description="Where it was found, e.g. 'history[3].title'.")
    kind: Literal["injection", "sensitive"]
    category: str = Field(description="Injection pattern or sensitive category (health, ...).")
    text: str = Field(description="The offending excerpt (kept short).")


class UserProfile(Model):
    user_id: str
    personalizable: bool
    reason: str = Field(description="Why personalization is or is not allowed for this user.")
    interests: list[Interest] = Field(default_factory=list)
    style: list[Trait] = Field(default_factory=list, description="Presentation style scores.")
    tone: str = "neutral"
    implicit_needs: list[Trait] = Field(default_factory=list)
    decision_tendencies: list[Trait] = Field(default_factory=list)
    visual: VisualCues = Field(default_factory=VisualCues)
    language: str = "en"
    summary: str = ""
    flags: list[InputFlag] = Field(
        default_factory=list,
        description="Instructions or sensitive traits found in the history and left out.",
    )


# --------------------------------------------------------------------------- plan

SceneRole = Literal["hook", "context", "product", "proof", "cta"]
Camera = Literal["static", "pan_left", "pan_right", "zoom_in", "zoom_out"]
Transition = Literal["cut", "fade", "slide"]


class GroundedText(Model):
    """A string shown or spoken, with the approved source it comes from."""

    text: str = Field(min_length=1)
    source: Literal["claim", "copy"]
    source_id: str
    slots: dict[str, str] = Field(
        default_factory=dict, description="Values filled into approved {slots}."
    )


class FacetScore(Model):
    facet: str
    interest: str
    score: float


class MatchDecision(Model):
    compatibility: float = Field(ge=0.0, le=1.0)
    threshold: float = Field(ge=0.0, le=1.0)
    personalized: bool
    interest: str | None = Field(None, description="The user interest the creative leans on.")
    facets: list[FacetScore] = Field(
        default_factory=list, description="Best-scoring (interest, facet) pairs, best first."
    )
    rationale: str


class Background(Model):
    kind: Literal["solid", "gradient", "image"] = "gradient"
    colors: list[str] = Field(default_factory=list)
    image: str | None = Field(None, description="Image path, for kind 'image'.")

    @field_validator("colors")
    @classmethod
    def _colors_hex(cls, value: list[str]) -> list[str]:
        return [_hex(v) for v in value]


class Scene(Model):
    index: int = Field(ge=0)
    role: SceneRole
    start_s: float = Field(ge=0.0)
    duration_s: float = Field(gt=0.0)
    narration: GroundedText | None = None
    on_screen_text: GroundedText | None = None
    visual_description: str = ""
    camera: Camera = "static"
    asset_ids: list[str] = Field(default_factory=list)
    background: Background = Field(default_factory=Background)
    transition_in: Transition = "cut"
    text_position: Literal["auto", "top", "center", "bottom"] = Field(
        "auto", description="Where on-screen text goes; 'auto' lets the template decide."
    )

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


class CallToAction(Model):
    text: GroundedText
    url: str


class Disclosure(Model):
    text: str = "AI-generated"
    position: Literal["top_left", "top_right", "bottom_left", "bottom_right"] = "top_right"
    in_metadata: bool = True


class CreativePlan(Model):
    schema_version: str = SCHEMA_VERSION
    plan_id: str
    campaign_id: str
    product_id: str
    user_id: str | None = Field(None, description="None for the generic creative.")
    kind: Literal["personalized", "generic"]
    profile_summary: str = ""
    matching: MatchDecision
    context: Context
    tone: str = "neutral"
    palette: list[str] = Field(default_factory=list)
    logo_asset: str | None = None
    scenes: list[Scene] = Field(min_length=1)
    cta: CallToAction
    disclosure: Disclosure = Field(default_factory=Disclosure)
    seed: int = 0
    planner: str = "template"
    notes: list[str] = Field(default_factory=list, description="Decisions worth explaining.")

    @field_validator("palette")
    @classmethod
    def _plan_palette_hex(cls, value: list[str]) -> list[str]:
        return [_hex(v) for v in value]

    @model_validator(mode="after")
    def _scenes_tile_the_duration(self) -> CreativePlan:
        t = 0.0
        for i, scene in enumerate(self.scenes):
            if scene.index != i:
                raise ValueError(f"scenes.{i}.index: expected {i}, got {scene.index}")
            if abs(scene.start_s - t) > 1e-3:
                raise ValueError(f"scenes.{i}.start_s: expected {t:g}, got {scene.start_s:g}")
            t = scene.end_s
        if abs(t - self.context.duration_s) > 0.05:
            raise ValueError(
                f"scenes: total duration {t:g}s differs from context.duration_s "
                f"{self.context.duration_s:g}s"
            )
        return self

    def texts(self) -> list[tuple[int | None, str, GroundedText]]:
        """Every user-visible or spoken string: (scene index or None for the CTA, field, text)."""
        out: list[tuple[int | None, str, GroundedText]] = []
        for s in self.scenes:
            if s.on_screen_text is not None:
                out.append((s.index, "on_screen_text", s.on_screen_text))
            if s.narration is not None:
                out.append((s.index, "narration", s.narration))
        out.append((None, "cta", self.cta.text))
        return out


# --------------------------------------------------------------------------- creative


class Box(Model):
    x: int
    y: int
    w: int
    h: int


class RenderedText(Model):
    """Where and when a string was drawn, so the Verifier can find it in the pixels."""

    text: str
    scene_index: int | None
    field: str
    start_s: float
    end_s: float
    box: Box


class RenderStats(Model):
    """How a creative was produced: which scenes were encoded and which came from cache."""

    encoded_scenes: list[int] = Field(default_factory=list)
    cached_scenes: list[int] = Field(default_factory=list)
    render_s: float = Field(0.0, ge=0.0, description="Wall time of the render.")


class Creative(Model):
    creative_id: str
    plan_id: str
    kind: Literal["video", "image"] = "video"
    path: str
    thumbnail: str | None = None
    mime_type: str = "video/mp4"
    width: int
    height: int
    fps: float
    duration_s: float
    frame_count: int
    codec: str = "h264"
    sha256: str
    seed: int
    renderer: str
    disclosure_text: str
    disclosure_box: Box = Field(description="Where the AI-generated label is drawn.")
    rendered_text: list[RenderedText] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)
    provenance: str | None = Field(
        None, description="Provenance manifest embedded in the file (e.g. 'c2pa'), if any."
    )
    render_stats: RenderStats | None = None


# --------------------------------------------------------------------------- verdict


class CheckResult(Model):
    name: str
    track: Literal["utility", "compliance"]
    passed: bool
    score: float = Field(ge=0.0, le=1.0)
    severity: Literal["info", "minor", "major", "critical"] = "info"
    message: str


class Evidence(Model):
    check: str
    message: str
    scene_index: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    severity: Literal["info", "minor", "major", "critical"] | None = Field(
        None, description="How bad this one finding is (info: recorded, not a failure)."
    )
    frame: int | None = Field(None, description="Frame number the problem was seen on.")
    box: Box | None = Field(None, description="Where in the frame, in pixels.")
    text: str | None = None


class Verdict(Model):
    creative_id: str
    plan_id: str
    decision: Literal["accept", "revise", "reject"]
    checks: list[CheckResult]
    evidence: list[Evidence] = Field(default_factory=list)
    rationale: str
    verifier: str = "basic"
    track_scores: dict[str, float] = Field(
        default_factory=dict, description="Mean check score per track (utility, compliance)."
    )

    def check(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed]


DirectiveAction = Literal[
    "recaption",
    "retime",
    "swap_hook",
    "swap_asset",
    "swap_background",
    "drop_claim",
    "reposition_text",
    "restore_context",
    "regenerate_scene",
    "update_profile",
    "fallback_generic",
    "rerender",
]


class AuditFinding(Model):
    """One fairness problem across a campaign's variants."""

    kind: Literal["stereotype", "exclusion", "imagery", "disparity"]
    attribute: str = Field(
        description="Demographic attribute, e.g. 'gender', 'age_range'; for a stereotype, "
        "the lexicon's category."
    )
    group: str = Field(
        description="The group affected, e.g. 'female', '55-64'; 'other' pools groups too "
        "small to report; 'all' when wording is wrong whoever sees it."
    )
    message: str
    plan_ids: list[str] = Field(default_factory=list)
    text: str | None = None
    severity: Literal["minor", "major", "critical"] = "major"
    item: str | None = Field(
        None, description="What was compared, e.g. 'claim:boots/free-ship', 'asset:boots/main'."
    )
    group_size: int | None = Field(None, ge=0, description="Users in the group.")
    rate: float | None = Field(None, ge=0.0, le=1.0, description="Share of the group reached.")
    reference_rate: float | None = Field(
        None, ge=0.0, le=1.0, description="Share of everyone eligible reached."
    )


class FairnessAudit(Model):
    """A campaign-level audit: variants compared across demographic groups."""

    campaign_id: str
    passed: bool
    users: int = Field(0, ge=0, description="Users audited.")
    plans: int = Field(0, ge=0, description="Distinct variants audited.")
    groups: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="attribute -> group -> number of users; groups below the minimum size "
        "are pooled as 'other' and never listed on their own.",
    )
    findings: list[AuditFinding] = Field(default_factory=list)
    rationale: str


class Directive(Model):
    """A minimal revision, routed to the Director (plan) or the Producer (execution)."""

    target: Literal["director", "producer"]
    action: DirectiveAction
    scene_index: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str
    check: str | None = Field(None, description="The failed check this directive answers.")


class Attribution(Model):
    """Why a check failed: the plan (what was decided) or the execution (how it was made)."""

    check: str
    level: Literal["plan", "execution"]
    aspect: str = Field(
        description="Plan: profile, matching, tone, hook, copy, cta, asset, context. "
        "Execution: rendering, timing, text_placement, asset_mismatch, metadata."
    )
    scene_index: int | None = None
    message: str


class Reflection(Model):
    """The Reflector's reading of a verdict: what went wrong, where, and the fix."""

    plan_id: str
    creative_id: str
    decision: Literal["accept", "revise", "reject"]
    attributions: list[Attribution] = Field(default_factory=list)
    directives: list[Directive] = Field(default_factory=list)
    rationale: str


class RefineRound(Model):
    """One verify-reflect-revise round, as recorded in the output."""

    round: int = Field(ge=0)
    plan_id: str
    creative_id: str
    decision: Literal["accept", "revise", "reject"]
    failed_checks: list[str] = Field(default_factory=list)
    directives: list[Directive] = Field(default_factory=list)
    rerendered_scenes: list[int] | None = Field(
        None, description="Scenes encoded this round; None for a full render."
    )
    render_s: float = 0.0


class RefineResult(Model):
    plan_id: str
    final_decision: Literal["accept", "revise", "reject"]
    rounds: list[RefineRound]
    stopped: Literal["accepted", "max_rounds", "no_progress", "no_directive", "rejected"]


EventType = Literal[
    "impression",
    "start",
    "firstQuartile",
    "midpoint",
    "thirdQuartile",
    "complete",
    "skip",
    "click",
    "conversion",
]
#: Every tracked event, in the order a player reports them.
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class Event(Model):
    """Something a user did with a served creative.

    ``(decision_id, type)`` is the idempotency key: the same event of the same decision is
    counted once however often a player retries it.
    """

    type: EventType
    creative_id: str
    decision_id: str | None = Field(None, description="The served decision this answers.")
    advertiser_id: str | None = None
    user_id: str | None = None
    campaign_id: str | None = None
    timestamp: datetime
    value: float | None = Field(
        None, description="Conversion revenue, or the playback second of a skip."
    )


class Decision(Model):
    """One serving decision as logged: what off-policy evaluation and holdouts need.

    ``propensity`` is the probability the serving policy gave the chosen ``arm`` among
    ``candidates`` at decision time (1.0 for rule-based and fallback decisions).
    """

    decision_id: str
    timestamp: datetime
    channel: Literal["decide", "openrtb", "vast"]
    advertiser_id: str
    campaign_id: str
    user_id: str | None = None
    creative_id: str
    arm: str = Field(description="What the policy learns about (a creative or variant family).")
    kind: Literal["personalized", "generic"]
    reason: Literal["policy", "exploration", "exploitation", "fallback"]
    policy: str
    propensity: float = Field(gt=0.0, le=1.0)
    candidates: list[str] = Field(default_factory=list, description="Eligible arms.")
    context: dict[str, str] = Field(
        default_factory=dict, description="Request context the policy saw (platform, device)."
    )


# --- Personalized creative integration (PCI): a segment woven into a host video ---


class HostShot(Model):
    """One shot of a host video, between two detected cuts."""

    index: int = Field(ge=0)
    start_s: float = Field(ge=0.0)
    end_s: float = Field(ge=0.0)
    start_frame: int = Field(ge=0)
    end_frame: int = Field(ge=0, description="First frame of the next shot.")
    keyframe_s: float = Field(ge=0.0, description="The representative still (mid-shot).")
    brightness: float = Field(ge=0.0, le=1.0, description="Mean luma, 0..1.")
    motion: float = Field(ge=0.0, le=1.0, description="Mean absolute luma change per frame.")
    colors: list[str] = Field(default_factory=list, description="Dominant colours, #RRGGBB.")
    text: str = Field("", description="On-screen text read from the keyframe.")
    description: str = ""


class HostTimeline(Model):
    """Per-window signals on a regular grid: what integration points are ranked on."""

    step_s: float = Field(gt=0.0)
    brightness: list[float] = Field(default_factory=list)
    motion: list[float] = Field(default_factory=list)
    loudness_db: list[float] = Field(
        default_factory=list, description="RMS level in dBFS (-120 for silence or no audio)."
    )
    speech: list[bool] = Field(
        default_factory=list, description="Speech-like audio (an energy/zero-crossing heuristic)."
    )


class HostSummary(Model):
    """The four aspects of a host video the storyboard is written against."""

    topic: str
    content: str
    visual: str
    audio: str


class HostAnalysis(Model):
    """What adloom understood of a host video, offline, before choosing where to integrate."""

    path: str
    sha256: str
    width: int
    height: int
    fps: float
    frame_count: int
    duration_s: float
    video_codec: str
    pix_fmt: str
    profile: str | None = None
    has_audio: bool
    sample_rate: int | None = None
    channels: int | None = None
    keyframes: list[int] = Field(default_factory=list, description="Keyframe frame numbers.")
    shots: list[HostShot] = Field(min_length=1)
    timeline: HostTimeline
    summary: HostSummary
    analyzer: str = "embedded"
    analysis_s: float = Field(0.0, ge=0.0, description="Wall time of the analysis.")


class IntegrationCandidate(Model):
    """A moment the segment could be inserted at, and how it scores."""

    time_s: float = Field(ge=0.0)
    frame: int = Field(ge=0, description="First host frame after the segment (the return).")
    kind: Literal["shot_boundary", "calm", "midpoint", "random", "manual"]
    shot_index: int = Field(ge=0, description="The shot the viewer leaves.")
    continuity: float = Field(ge=0.0, le=1.0)
    semantic_fit: float = Field(ge=0.0, le=1.0)
    intrusiveness: float = Field(ge=0.0, le=1.0, description="0: nothing interrupted.")
    score: float = Field(ge=0.0, le=1.0)
    allowed: bool = True
    reasons: list[str] = Field(default_factory=list)


class IntegrationDecision(Model):
    """Where the segment goes, and why: the PCI counterpart of the plan's matching."""

    host_sha256: str
    strategy: Literal["ranked", "midpoint", "random", "manual"]
    point: IntegrationCandidate
    start_frame: int = Field(ge=0, description="The host frame the segment starts from.")
    rationale: str
    candidates: list[IntegrationCandidate] = Field(default_factory=list)


class CutQuality(Model):
    """How visible one cut between host and segment is."""

    time_s: float = Field(ge=0.0, description="Where the cut is in the woven video.")
    colour_distance: float = Field(ge=0.0, le=1.0, description="Half L1 of colour histograms.")
    luma_jump: float = Field(ge=0.0, le=255.0, description="Mean absolute luma difference.")
    loudness_jump_db: float = Field(ge=0.0, description="Level change across the cut (dB).")
    continuity: float = Field(ge=0.0, le=1.0, description="1: no visible jump.")


class IntegrationQuality(Model):
    """Measured on the woven file: both cuts and how much of it the ad takes."""

    cut_in: CutQuality
    cut_out: CutQuality
    segment_duration_s: float = Field(gt=0.0)
    woven_duration_s: float = Field(gt=0.0)
    share: float = Field(ge=0.0, le=1.0, description="Segment length / woven length.")


class SpliceStats(Model):
    """What the splice encoded and what it copied packet for packet."""

    copied_frames: int = Field(ge=0)
    reencoded_host_frames: int = Field(ge=0)
    segment_frames: int = Field(ge=0)
    keyframe_aligned: bool
    splice_s: float = Field(ge=0.0)


class IntegrationReport(Model):
    """The outcome of ``adloom integrate``: decision, files, quality and verdict."""

    host: HostAnalysis
    decision: IntegrationDecision
    plan: CreativePlan
    segment: Creative
    woven_path: str
    vast_path: str
    vmap_path: str
    splice: SpliceStats
    quality: IntegrationQuality
    baseline: IntegrationQuality | None = Field(
        None, description="The generic integration: no user data or host analysis, midpoint."
    )
    verdict: Verdict


#: Models exported by ``adloom schema NAME``.
SCHEMAS: dict[str, type[BaseModel]] = {
    "campaign": Campaign,
    "product": Product,
    "user": User,
    "context": Context,
    "profile": UserProfile,
    "plan": CreativePlan,
    "creative": Creative,
    "verdict": Verdict,
    "directive": Directive,
    "reflection": Reflection,
    "audit": FairnessAudit,
    "refine": RefineResult,
    "event": Event,
    "decision": Decision,
    "host": HostAnalysis,
    "integration": IntegrationDecision,
    "integration-report": IntegrationReport,
}
