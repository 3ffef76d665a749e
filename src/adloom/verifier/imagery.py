"""Imagery compliance: nudity, faces without a model release, and asset licences.

Three compliance checks look at the pictures a creative is built from and shows:

* ``nsfw`` runs NudeNet (its model ships in the ``nudenet`` wheel) on every scene's still
  and, before trusting them, on every image the plan uses: product shots, the logo and
  image backgrounds, a user's own history photo included. Exposed-body classes are
  critical (never served); covered, suggestive ones above a stricter score are major.
* ``faces`` finds faces in each still with OpenCV's Haar cascades (frontal and profile,
  on a reduced grey frame) and works out which of the plan's images each face came from,
  using the template layout of :mod:`adloom.producer.layers`: the logo and the product
  shots sit where the layout placed them, the scene background covers the rest of the
  frame. A face from an asset whose licence records a model release is evidence only;
  any other face (a user's photo as backdrop, an asset without a release, or no asset at
  all) is major, so the Reflector can swap that picture.
* ``licensing`` needs no pixels: every asset the plan names exists and is licensed, no
  licence has expired, none forbidding modification is used in a way the template
  modifies, required attributions travel in the creative's metadata (a ``credits``
  tag), and a picture that is no campaign asset (a user's history image) appears only
  in that user's personalized plan.

What counts as modification: the template crops a background to the frame, darkens,
blurs and decorates it, so an image background is a modified use. A product shot or a
logo is only trimmed of transparent margins, scaled uniformly and shown whole (a drop
shadow is drawn around it, not on it): that is presentation, not modification. Which
uses count is configurable (``modifying_uses``) for stricter licences.

OpenCV 5 no longer ships the Haar cascades (``CascadeClassifier`` left the main
package). With ``face_detector="auto"`` the ``faces`` check then falls back to NudeNet's
face classes; ``"haar"`` insists on the cascades and fails the check, naming the fix,
where they are missing.

Models load lazily, once per process: a campaign verifies many creatives. The loaders
(:func:`nsfw_detector`, :func:`face_detector`) are module-level so tests can replace them.

The verifier config section for these checks is :data:`SECTION` (:class:`ImageryOptions`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adloom.domain import Asset, Box, Campaign
from adloom.errors import AdloomError, InputError, MissingExtraError
from adloom.grounding import normalize
from adloom.producer.layers import Layer, Template, build, load_image
from adloom.verifier.checks import Check, CheckContext, Outcome, Problem, Severity, check

#: The verifier config section holding :class:`ImageryOptions`.
SECTION = "imagery"

U8Array = npt.NDArray[np.uint8]

#: Every class NudeNet reports.
NUDENET_LABELS = frozenset(
    {
        "FEMALE_GENITALIA_COVERED",
        "FACE_FEMALE",
        "BUTTOCKS_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_BREAST_EXPOSED",
        "ANUS_EXPOSED",
        "FEET_EXPOSED",
        "BELLY_COVERED",
        "FEET_COVERED",
        "ARMPITS_COVERED",
        "ARMPITS_EXPOSED",
        "FACE_MALE",
        "BELLY_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "ANUS_COVERED",
        "FEMALE_BREAST_COVERED",
        "BUTTOCKS_COVERED",
    }
)
EXPOSED_LABELS = (
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
)
SUGGESTIVE_LABELS = (
    "FEMALE_BREAST_COVERED",
    "FEMALE_GENITALIA_COVERED",
    "BUTTOCKS_COVERED",
    "ANUS_COVERED",
)
FACE_LABELS = ("FACE_FEMALE", "FACE_MALE")
#: Haar cascades used, from OpenCV's data folder: alt2 is the frontal cascade that gave
#: no false positive on adloom's text panels and product shots.
HAAR_FRONTAL = "haarcascade_frontalface_alt2.xml"
HAAR_PROFILE = "haarcascade_profileface.xml"
#: Smallest window the cascades were trained on (px).
HAAR_WINDOW = 24
#: Transparent parts of an asset are shown on this grey before detection: neither black
#: nor white, so no edge is invented around a cut-out.
MATTE = 128

Use = Literal["visual", "background", "logo"]

#: Uses that alter the picture itself (see the module notes on modification).
MODIFYING_USES: tuple[Use, ...] = ("background",)
#: How the template alters a picture in each use, for the no-modification message.
_HOW: dict[str, str] = {
    "background": "cropped to the frame, darkened, blurred and decorated",
    "visual": "trimmed, scaled and shadowed",
    "logo": "trimmed and scaled",
}


class ImageryOptions(BaseModel):
    """Thresholds of the imagery checks (verifier config section ``imagery``)."""

    model_config = ConfigDict(extra="forbid")

    nsfw_labels: list[str] = Field(
        default_factory=lambda: list(EXPOSED_LABELS),
        description="NudeNet classes that must never be served (critical).",
    )
    nsfw_score: float = Field(
        0.45, ge=0.0, le=1.0, description="Score from which an nsfw_labels detection counts."
    )
    suggestive_labels: list[str] = Field(
        default_factory=lambda: list(SUGGESTIVE_LABELS),
        description="NudeNet classes that are suggestive rather than explicit (major).",
    )
    suggestive_score: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Score from which a suggestive_labels detection counts; at least "
        "nsfw_score, since covered bodies are common in ordinary advertising.",
    )
    scan_assets: bool = Field(
        True,
        description="Also scan the images the plan uses, not just the frames: a picture "
        "shown small or darkened in the frame is still one the campaign publishes.",
    )
    face_detector: Literal["auto", "haar", "nudenet"] = Field(
        "auto",
        description="'haar': OpenCV's Haar cascades; 'nudenet': NudeNet's face classes; "
        "'auto': the cascades where OpenCV ships them, else NudeNet.",
    )
    face_analysis_px: int = Field(
        360,
        ge=120,
        le=2160,
        description="Shorter side (px) frames are reduced to for the cascades: faces worth "
        "flagging are large, and the cascades' cost grows with the pixel count.",
    )
    face_min_size: float = Field(
        0.08,
        gt=0.0,
        le=1.0,
        description="Smallest face searched, as a share of the frame's shorter side; "
        "smaller windows mistake letters and dots for faces.",
    )
    face_min_neighbors: int = Field(
        6,
        ge=1,
        le=20,
        description="Overlapping cascade hits a face needs: higher rejects text and "
        "product shapes, lower finds faces in poorer light.",
    )
    face_scale_step: float = Field(
        1.1,
        gt=1.0,
        le=1.5,
        description="Factor between the window sizes the cascades try: larger is faster "
        "(1.2 about halves the cost) and may miss faces between sizes.",
    )
    face_profile: bool = Field(
        True, description="Also look for faces in profile (both directions; most of the cost)."
    )
    face_score: float = Field(
        0.5, ge=0.0, le=1.0, description="Score a NudeNet face detection needs."
    )
    face_overlap: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description="Share of a face's box that must lie on a placed image (logo, product "
        "shot) for the face to count as that image's; otherwise it is the background's.",
    )
    modifying_uses: list[Use] = Field(
        default_factory=lambda: list(MODIFYING_USES),
        description="Uses that count as modifying an asset, so a licence with "
        "allows_modification=false forbids them.",
    )

    @field_validator("nsfw_labels", "suggestive_labels")
    @classmethod
    def _known_labels(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - NUDENET_LABELS)
        if unknown:
            raise ValueError(
                f"unknown NudeNet class(es) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(NUDENET_LABELS))})"
            )
        return value

    @model_validator(mode="after")
    def _suggestive_is_stricter(self) -> ImageryOptions:
        if self.suggestive_score < self.nsfw_score:
            raise ValueError(
                f"suggestive_score {self.suggestive_score:g} is below nsfw_score "
                f"{self.nsfw_score:g}: suggestive classes need the higher score"
            )
        return self


# --------------------------------------------------------------------------- detectors


@dataclass(frozen=True)
class Detection:
    """One thing a detector found in an RGB image: its class, confidence and box (px)."""

    label: str
    score: float
    box: Box


#: A detector takes an RGB uint8 image (height, width, 3) and returns what it found.
Detector = Callable[[U8Array], list[Detection]]


def _box(x: float, y: float, w: float, h: float) -> Box:
    return Box(x=round(x), y=round(y), w=round(w), h=round(h))


def _import(module: str, backend: str, extra: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = {"cv2": "opencv-python-headless"}.get(exc.name or "", exc.name or package)
        raise MissingExtraError(backend, extra, missing) from None


@lru_cache(maxsize=1)
def nsfw_detector() -> Detector:
    """NudeNet's detector, loaded once per process (its ONNX model ships in the wheel)."""
    nudenet = _import("nudenet", "nsfw", "nsfw", "nudenet")
    model = nudenet.NudeDetector()

    def detect(rgb: U8Array) -> list[Detection]:
        # NudeNet expects what cv2.imread returns: BGR.
        found = model.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
        return [Detection(str(d["class"]), float(d["score"]), _box(*d["box"])) for d in found]

    return detect


@lru_cache(maxsize=1)
def haar_cascades() -> tuple[Any, Any] | None:
    """OpenCV's frontal and profile face cascades, or None where OpenCV ships none."""
    cv2 = _import("cv2", "faces", "vision", "opencv-python-headless")
    make = getattr(cv2, "CascadeClassifier", None)
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if make is None or folder is None:
        return None
    files = [Path(folder) / name for name in (HAAR_FRONTAL, HAAR_PROFILE)]
    if not all(f.is_file() for f in files):
        return None
    frontal, profile = (make(str(f)) for f in files)
    if frontal.empty() or profile.empty():
        return None
    return frontal, profile


def _merge(found: list[Detection]) -> list[Detection]:
    """One box per face: frontal and profile cascades often both fire on a turned head."""
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.box.w * d.box.h):
        if all(_covered(d.box, k.box) < 0.5 for k in kept):
            kept.append(d)
    return kept


def _haar_faces(cascades: tuple[Any, Any], rgb: U8Array, opts: ImageryOptions) -> list[Detection]:
    import cv2

    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    k = min(1.0, opts.face_analysis_px / min(gray.shape))
    if k < 1.0:
        gray = cv2.resize(gray, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
    side = max(HAAR_WINDOW, round(opts.face_min_size * min(gray.shape)))
    width = gray.shape[1]

    def run(cascade: Any, img: Any) -> list[tuple[int, int, int, int]]:
        hits = cascade.detectMultiScale(
            img,
            scaleFactor=opts.face_scale_step,
            minNeighbors=opts.face_min_neighbors,
            minSize=(side, side),
        )
        return [(int(x), int(y), int(w), int(h)) for x, y, w, h in hits]

    frontal, profile = cascades
    boxes = [("frontal", b) for b in run(frontal, gray)]
    if opts.face_profile:
        boxes += [("profile", b) for b in run(profile, gray)]
        # The profile cascade knows one direction: mirror the frame for the other.
        mirrored = np.ascontiguousarray(gray[:, ::-1])
        boxes += [("profile", (width - x - w, y, w, h)) for x, y, w, h in run(profile, mirrored)]
    found = [
        Detection(f"face ({kind})", 1.0, _box(x / k, y / k, w / k, h / k))
        for kind, (x, y, w, h) in boxes
    ]
    return _merge(found)


def face_detector(opts: ImageryOptions) -> Detector:
    """The face detector ``opts`` asks for; models behind it are loaded once per process."""
    cascades = haar_cascades() if opts.face_detector in ("auto", "haar") else None
    if cascades is not None:
        found = cascades

        def haar(rgb: U8Array) -> list[Detection]:
            return _haar_faces(found, rgb, opts)

        return haar
    if opts.face_detector == "haar":
        cv2 = _import("cv2", "faces", "vision", "opencv-python-headless")
        raise AdloomError(
            f"imagery.face_detector 'haar': OpenCV {cv2.__version__} ships no Haar cascades; "
            "install opencv-python-headless<5 or set imagery.face_detector to 'nudenet'"
        )
    nudity = nsfw_detector()

    def nudenet_faces(rgb: U8Array) -> list[Detection]:
        return [d for d in nudity(rgb) if d.label in FACE_LABELS and d.score >= opts.face_score]

    return nudenet_faces


# --------------------------------------------------------------------------- the plan's images


@dataclass(frozen=True)
class AssetUse:
    """One place the plan puts a picture (or sound): a scene's visual, its backdrop, the logo.

    ``asset`` is None for an unknown asset id and for a background that is no campaign
    asset (then ``ref`` is its path: a user's own image).
    """

    role: Use
    scene_index: int | None
    ref: str
    asset: Asset | None
    path: Path | None

    @property
    def where(self) -> str:
        if self.scene_index is None:
            return "logo"
        return f"scene {self.scene_index} {self.role}"

    @property
    def is_picture(self) -> bool:
        return self.asset is None or self.asset.kind != "audio"


def _background_path(campaign: Campaign, image: str) -> Path:
    """Where the template reads a background image from (relative to the campaign)."""
    path = Path(image)
    return path if path.is_absolute() else campaign.base_dir / path


def _campaign_asset_at(ctx: CheckContext, path: Path) -> Asset | None:
    """The campaign asset stored at ``path``, the plan's product searched first."""
    target = path.resolve()
    products = [ctx.product] if ctx.product is not None else []
    products += [p for p in ctx.campaign.products if p is not ctx.product]
    for product in products:
        for asset in product.assets:
            if ctx.campaign.asset_path(asset).resolve() == target:
                return asset
    return None


def asset_uses(ctx: CheckContext) -> list[AssetUse]:
    """Every asset and image the plan uses, in scene order, the logo last."""
    out: list[AssetUse] = []

    def named(role: Use, scene: int | None, asset_id: str) -> AssetUse:
        asset: Asset | None = None
        if ctx.product is not None:
            try:
                asset = ctx.product.asset(asset_id)
            except KeyError:
                asset = None
        path = ctx.campaign.asset_path(asset) if asset is not None else None
        return AssetUse(role, scene, asset_id, asset, path)

    for scene in ctx.plan.scenes:
        out.extend(named("visual", scene.index, aid) for aid in scene.asset_ids)
        bg = scene.background
        if bg.kind == "image" and bg.image:
            path = _background_path(ctx.campaign, bg.image)
            asset = _campaign_asset_at(ctx, path)
            ref = asset.id if asset is not None else bg.image
            out.append(AssetUse("background", scene.index, ref, asset, path))
    if ctx.plan.logo_asset is not None:
        out.append(named("logo", None, ctx.plan.logo_asset))
    return out


def _span(ctx: CheckContext, use: AssetUse) -> tuple[float, float]:
    if use.scene_index is None:
        return 0.0, ctx.plan.context.duration_s
    scene = ctx.plan.scenes[use.scene_index]
    return scene.start_s, scene.end_s


def _covered(a: Box, b: Box) -> float:
    """Share of ``a``'s area that lies inside ``b``."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, w) * max(0, h) / max(1, a.w * a.h)


def _rgb(path: Path, what: str) -> U8Array:
    """An image as RGB, transparent parts on a neutral grey."""
    rgba = np.asarray(load_image(path, what), dtype=np.float32)
    alpha = rgba[..., 3:] / 255.0
    rgb: U8Array = np.round(rgba[..., :3] * alpha + MATTE * (1.0 - alpha)).astype(np.uint8)
    return rgb


@lru_cache(maxsize=256)
def _image_detections(detect: Detector, path: str, mtime_ns: int) -> tuple[Detection, ...]:
    """Detections in one image file, kept per process: campaigns reuse their assets."""
    return tuple(detect(_rgb(Path(path), "image")))


# --------------------------------------------------------------------------- nsfw


def _nsfw_severity(d: Detection, opts: ImageryOptions) -> Severity | None:
    if d.label in opts.nsfw_labels and d.score >= opts.nsfw_score:
        return "critical"
    if d.label in opts.suggestive_labels and d.score >= opts.suggestive_score:
        return "major"
    return None


def _at(box: Box) -> str:
    return f"{box.w}x{box.h} at {box.x},{box.y}"


@check("nsfw", "compliance", needs_video=True)
def nsfw(ctx: CheckContext) -> Outcome:
    """No nudity in any scene's still nor in any image the plan draws from."""
    opts = ctx.options(SECTION, ImageryOptions)
    detect = nsfw_detector()
    problems: list[Problem] = []
    flagged: list[float] = []
    stills = ctx.stills()
    for index, t, frame in stills:
        for d in detect(frame):
            severity = _nsfw_severity(d, opts)
            if severity is None:
                continue
            flagged.append(d.score)
            problems.append(
                Problem(
                    severity,
                    f"scene {index} at {t:.2f}s: {d.label} ({d.score:.2f}) {_at(d.box)}",
                    index,
                    t,
                    t,
                    frame=ctx.frame_at(t),
                    box=d.box,
                )
            )
    images: dict[Path, list[AssetUse]] = {}
    if opts.scan_assets:
        for use in asset_uses(ctx):
            if use.path is not None and use.is_picture:
                images.setdefault(use.path, []).append(use)
    for path, uses in images.items():
        first = uses[0]
        a, b = _span(ctx, first)
        try:
            found = _image_detections(detect, str(path), path.stat().st_mtime_ns)
        except (InputError, OSError) as exc:
            message = f"{first.where} image {first.ref!r} could not be scanned: {exc}"
            problems.append(Problem("major", message, first.scene_index, a, b, text=first.ref))
            continue
        for d in found:
            severity = _nsfw_severity(d, opts)
            if severity is None:
                continue
            flagged.append(d.score)
            problems.append(
                Problem(
                    severity,
                    f"{first.where} image {first.ref!r}: {d.label} ({d.score:.2f}) "
                    f"{_at(d.box)} of the image",
                    first.scene_index,
                    a,
                    b,
                    text=first.ref,
                )
            )
    if not problems:
        return Outcome(1.0, f"no nudity in {len(stills)} stills and {len(images)} images")
    score = 0.0 if not flagged else 1.0 - max(flagged)
    return Outcome(score, "; ".join(p.message for p in problems), problems)


# --------------------------------------------------------------------------- faces


class _Layout:
    """Which of the plan's pictures covers a point of a scene's frame.

    The template's layout is rebuilt from the plan (the renderers draw exactly that), so
    a face is traced to the logo, a product shot or the scene's background.
    """

    def __init__(self, ctx: CheckContext, uses: Sequence[AssetUse]) -> None:
        self.uses = uses
        self.error: str | None = None
        self.template: Template | None = None
        try:
            self.template = build(ctx.plan, ctx.campaign)
        except AdloomError as exc:
            self.error = str(exc)

    def placed(self, scene_index: int, t: float) -> list[tuple[Box, AssetUse]]:
        """Logo and product shots of the scene at time ``t``, topmost first."""
        if self.template is None:
            return []
        tpl = self.template
        sc = tpl.scenes[scene_index]
        local = t - sc.start_frame / tpl.fps
        shots = [
            u
            for u in self.uses
            if u.scene_index == scene_index and u.role == "visual" and u.is_picture
        ][:3]
        out: list[tuple[Box, AssetUse]] = []
        logo = next((u for u in self.uses if u.role == "logo"), None)
        for layer in tpl.overlays:
            if layer.name == "logo" and logo is not None:
                out.append((_layer_box(layer, t), logo))
        prefix = f"s{scene_index}-visual"
        for layer in reversed(sc.layers):
            if layer.name.startswith(prefix):
                k = int(layer.name.removeprefix(prefix))
                if k < len(shots):
                    out.append((_layer_box(layer, local), shots[k]))
        return out

    def source(self, scene_index: int, t: float, box: Box, overlap: float) -> AssetUse | None:
        """The picture a face at ``box`` came from: a placed image, else the backdrop."""
        for rect, use in self.placed(scene_index, t):
            if _covered(box, rect) >= overlap:
                return use
        return next(
            (u for u in self.uses if u.scene_index == scene_index and u.role == "background"),
            None,
        )


def _layer_box(layer: Layer, t: float) -> Box:
    x, y = layer.top_left(t)
    w, h = layer.scaled_size(t)
    return Box(x=x, y=y, w=w, h=h)


def _released(use: AssetUse | None) -> bool:
    return use is not None and use.asset is not None and use.asset.license.model_release


def _origin(use: AssetUse | None, layout: _Layout) -> str:
    if use is None:
        why = f" (layout unknown: {layout.error})" if layout.error else ""
        return f"where no image of the plan is{why}"
    if use.asset is None:
        return f"in the {use.role} {Path(use.ref).name!r}, a user's image that is no asset"
    return f"in {use.where} asset {use.asset.id!r}"


@check("faces", "compliance", needs_video=True)
def faces(ctx: CheckContext) -> Outcome:
    """Every face shown comes from an asset with a recorded model release."""
    opts = ctx.options(SECTION, ImageryOptions)
    detect = face_detector(opts)
    stills = ctx.stills()
    layout: _Layout | None = None
    problems: list[Problem] = []
    total = 0
    for index, t, frame in stills:
        found = detect(frame)
        if not found:
            continue
        layout = layout or _Layout(ctx, asset_uses(ctx))
        for d in found:
            total += 1
            use = layout.source(index, t, d.box, opts.face_overlap)
            ref = use.ref if use is not None else None
            where = f"scene {index} at {t:.2f}s: face {_at(d.box)} {_origin(use, layout)}"
            if _released(use):
                severity: Severity = "info"
                message = f"{where}, covered by its model release"
            else:
                severity, message = "major", f"{where}: face without a recorded model release"
            problems.append(
                Problem(severity, message, index, t, t, ref, ctx.frame_at(t), box=d.box)
            )
    failing = [p for p in problems if p.severity != "info"]
    if not total:
        return Outcome(1.0, f"no face in {len(stills)} stills")
    if not failing:
        return Outcome(1.0, f"{total} face(s), all covered by model releases", problems)
    return Outcome(1.0 - len(failing) / total, "; ".join(p.message for p in failing), problems)


# --------------------------------------------------------------------------- licensing


def _credited(attribution: str, metadata: dict[str, str]) -> bool:
    wanted = normalize(attribution)
    return any(wanted in normalize(str(v)) for v in metadata.values())


Flag = Callable[[Severity, str], None]


def _flagger(ctx: CheckContext, use: AssetUse, problems: list[Problem]) -> Flag:
    """Records a problem with ``use``, placed in its scene and naming the asset."""
    a, b = _span(ctx, use)

    def flag(severity: Severity, message: str) -> None:
        problems.append(Problem(severity, message, use.scene_index, a, b, text=use.ref))

    return flag


def _check_user_image(ctx: CheckContext, use: AssetUse, flag: Flag) -> None:
    """A picture that is no campaign asset is a user's own: only their plan may show it.

    The Director uses a history image only for a consenting user's personalized plan;
    anywhere else it would publish one person's photo to others.
    """
    plan, profile = ctx.plan, ctx.profile
    name = Path(use.ref).name
    if plan.kind != "personalized" or plan.user_id is None:
        flag(
            "critical",
            f"{use.where} {name!r} is no campaign asset (a user's image) in a {plan.kind} "
            "plan: only that user's personalized plan may show it",
        )
    elif profile is not None and profile.user_id != plan.user_id:
        flag(
            "critical",
            f"{use.where} {name!r} is a user's image in a plan for {plan.user_id!r}, "
            f"verified against the profile of {profile.user_id!r}",
        )
    elif profile is not None and not profile.personalizable:
        flag(
            "critical",
            f"{use.where} {name!r} comes from the history of user {plan.user_id!r}, whose "
            "profile does not allow personalization",
        )
    else:
        flag(
            "info",
            f"{use.where} {name!r} comes from the history of user {plan.user_id!r}, shown in "
            "their personalized plan",
        )


@check("licensing", "compliance")
def licensing(ctx: CheckContext) -> Outcome:
    """Every asset used is known, licensed for this use, credited, and not expired."""
    opts = ctx.options(SECTION, ImageryOptions)
    uses = asset_uses(ctx)
    if ctx.product is None:
        message = f"no product {ctx.plan.product_id!r} to check the plan's assets against"
        return Outcome(0.0, message, [Problem("critical", message)])
    today = date.today()
    plan = ctx.plan
    problems: list[Problem] = []
    credited: set[str] = set()
    for use in uses:
        flag = _flagger(ctx, use, problems)
        if use.asset is None and use.role != "background":
            flag("critical", f"{use.where}: unknown asset {use.ref!r} (not in {plan.product_id!r})")
            continue
        if use.asset is None:
            _check_user_image(ctx, use, flag)
            continue
        lic = use.asset.license
        if lic.expires is not None and lic.expires < today:
            flag("critical", f"{use.where}: licence for {use.ref!r} expired on {lic.expires}")
        if not lic.allows_modification and use.role in opts.modifying_uses and use.is_picture:
            flag(
                "major",
                f"{use.where}: licence for {use.ref!r} forbids modification, and a "
                f"{use.role} is {_HOW[use.role]}",
            )
        if lic.attribution and use.ref not in credited:
            credited.add(use.ref)
            if not _credited(lic.attribution, ctx.creative.metadata):
                problems.append(
                    Problem(
                        "minor",
                        f"licence for {use.ref!r} requires the attribution "
                        f"{lic.attribution!r}, missing from the creative metadata (expected "
                        "in a 'credits' tag)",
                        text=use.ref,
                    )
                )
    failing = [p for p in problems if p.severity != "info"]
    if not uses:
        return Outcome(1.0, "the plan uses no assets")
    if not failing:
        return Outcome(1.0, f"all {len(uses)} asset uses allowed", problems)
    bad = {(p.scene_index, p.text) for p in failing}
    score = max(0.0, 1.0 - len(bad) / len(uses))
    return Outcome(score, "; ".join(p.message for p in failing), problems)


#: The imagery checks, in report order.
CHECKS: tuple[Check, ...] = (nsfw, faces, licensing)
