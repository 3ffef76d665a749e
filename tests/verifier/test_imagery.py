"""Imagery compliance: nudity, faces without a model release, asset licences.

Real creatives are rendered once per module: the bundled sample (both aspect ratios)
must pass with the real models, and a "portrait" campaign puts one drawn face in each
kind of picture a face can come from (a user's photo as backdrop, a product shot with a
model release, one without). The repository carries no explicit imagery, so NudeNet's
positives come from an injected detector; faces are drawn with the light/dark layout a
Haar cascade looks for.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter
from pydantic import BaseModel, ValidationError

from adloom.demo import load_sample
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import (
    Asset,
    Background,
    Box,
    Budget,
    CallToAction,
    Campaign,
    Claim,
    Context,
    CopyLine,
    Creative,
    CreativePlan,
    Disclosure,
    GroundedText,
    LicenseRecord,
    MatchDecision,
    Product,
    Scene,
    UserProfile,
)
from adloom.errors import AdloomError, MissingExtraError
from adloom.producer.template import TemplateRenderer
from adloom.verifier import imagery
from adloom.verifier.basic import BasicVerifier
from adloom.verifier.checks import DEFAULT_CHECKS, CheckContext, Thresholds
from adloom.verifier.imagery import CHECKS, Detection, ImageryOptions

U8 = np.ndarray[Any, np.dtype[np.uint8]]
SKIN = (225, 185, 160)
HAIR = (50, 35, 25)


class _Config(BaseModel):
    """A verifier config carrying only the imagery section."""

    imagery: ImageryOptions


def with_options(ctx: CheckContext, **options: Any) -> CheckContext:
    return dataclasses.replace(ctx, config=_Config(imagery=ImageryOptions(**options)))


# --------------------------------------------------------------------------- drawn faces


def draw_face(size: int, background: tuple[int, int, int] = (120, 140, 160)) -> Image.Image:
    """A schematic face about ``size`` px tall, on a square canvas 2.2 times that.

    A frontal cascade looks for dark eye bands above lighter cheeks, a light nose bridge
    between the eyes and a dark mouth below: brows, dark pupils in white eyes, a fringe
    of hair and a mouth on a light skin oval give exactly that structure.
    """
    side = round(size * 2.2)
    img = Image.new("RGB", (side, side), background)
    d = ImageDraw.Draw(img)
    cx = cy = side / 2
    fw, fh = size * 0.5, size * 0.62
    d.ellipse((cx - fw * 1.1, cy - fh * 1.15, cx + fw * 1.1, cy + fh * 0.4), fill=HAIR)
    d.rectangle((cx - fw * 0.45, cy + fh * 0.6, cx + fw * 0.45, cy + fh * 1.5), fill=SKIN)
    d.ellipse((cx - fw, cy - fh, cx + fw, cy + fh), fill=SKIN)
    d.chord((cx - fw, cy - fh * 1.05, cx + fw, cy - fh * 0.2), 180, 360, fill=HAIR)
    ey = cy - fh * 0.12
    for sx in (-1, 1):
        x = cx + sx * fw * 0.42
        d.ellipse((x - fw * 0.26, ey - fh * 0.26, x + fw * 0.26, ey - fh * 0.19), fill=HAIR)
        d.ellipse((x - fw * 0.22, ey - fh * 0.07, x + fw * 0.22, ey + fh * 0.07), fill="white")
        d.ellipse((x - fw * 0.1, ey - fh * 0.07, x + fw * 0.1, ey + fh * 0.07), fill=HAIR)
    nose = [(cx, ey), (cx - fw * 0.12, cy + fh * 0.28), (cx + fw * 0.12, cy + fh * 0.28)]
    d.polygon(nose, fill=(210, 165, 140))
    d.chord((cx - fw * 0.35, cy + fh * 0.38, cx + fw * 0.35, cy + fh * 0.62), 0, 180, fill="brown")
    return img.filter(ImageFilter.GaussianBlur(size / 100))


def skin_faces(rgb: U8) -> list[Detection]:
    """A stand-in face detector: the box of pixels with the drawn skin's chromaticity.

    Chromaticity survives the darkening the template applies to image backgrounds, so
    it finds the drawn face wherever the renderer put it, whatever detector is installed.
    """
    px = rgb.astype(np.float32)
    total = px.sum(axis=2) + 1e-6
    r, g = px[..., 0] / total, px[..., 1] / total
    want = np.array(SKIN, dtype=np.float32) / sum(SKIN)
    mask = (np.abs(r - want[0]) < 0.02) & (np.abs(g - want[1]) < 0.015) & (total > 150)
    rows = np.flatnonzero(mask.sum(axis=1) >= 8)
    cols = np.flatnonzero(mask.sum(axis=0) >= 8)
    if rows.size < 20 or cols.size < 20:
        return []
    box = Box(x=int(cols[0]), y=int(rows[0]), w=int(cols[-1] - cols[0]), h=int(rows[-1] - rows[0]))
    return [Detection("face", 1.0, box)]


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, w) * max(0, h) / min(a.w * a.h, b.w * b.h)


def haar_or_skip() -> None:
    if imagery.haar_cascades() is None:
        pytest.skip("this OpenCV ships no Haar cascades (OpenCV 5); needs opencv<5")


# --------------------------------------------------------------------------- campaigns


def text(value: str, source: str, source_id: str) -> GroundedText:
    return GroundedText(text=value, source=source, source_id=source_id)  # type: ignore[arg-type]


def license_of(**fields: Any) -> LicenseRecord:
    return LicenseRecord(license="CC0-1.0", holder="adloom tests", source="drawn", **fields)


def portrait_campaign(folder: Path) -> tuple[Campaign, Path]:
    """A product with a plain pack shot and two portraits, plus a user's face photo."""
    assets = folder / "assets"
    assets.mkdir(parents=True)
    pack = Image.new("RGBA", (300, 400), (0, 0, 0, 0))
    ImageDraw.Draw(pack).rounded_rectangle((40, 20, 260, 380), 30, fill=(40, 70, 160, 255))
    pack.save(assets / "pack.png")
    logo = Image.new("RGBA", (240, 80), (30, 60, 140, 255))
    logo.save(assets / "logo.png")
    draw_face(150).save(assets / "released.png")
    draw_face(150).save(assets / "unreleased.png")
    photo = Image.new("RGB", (640, 360), (90, 120, 150))
    photo.paste(draw_face(120), (160, 48))
    user_photo = folder / "history" / "selfie.png"
    user_photo.parent.mkdir()
    photo.save(user_photo)
    product = Product(
        id="serum",
        name="Glow Serum",
        brand="Lumi",
        category="skincare",
        verified_claims=[Claim(id="c1", text="Fragrance free", evidence="formula sheet")],
        approved_copy=[
            CopyLine(id="h1", role="headline", text="Skin, but brighter"),
            CopyLine(id="cta1", role="cta", text="Shop now"),
        ],
        assets=[
            Asset(id="pack", kind="product_image", path="pack.png", license=license_of()),
            Asset(
                id="face-released",
                kind="product_image",
                path="released.png",
                license=license_of(model_release=True),
            ),
            Asset(
                id="face-unreleased",
                kind="product_image",
                path="unreleased.png",
                license=license_of(),
            ),
            Asset(id="logo", kind="logo", path="logo.png", license=license_of()),
        ],
        palette=["#1d3557", "#a8dadc", "#e63946"],
    )
    campaign = Campaign(
        id="portraits",
        name="Portraits",
        advertiser="Lumi",
        objective="awareness",
        budget=Budget(amount=100),
        products=[product],
    )
    return campaign.with_base_dir(assets), user_photo


def portrait_plan(campaign: Campaign, user_photo: Path, **overrides: Any) -> CreativePlan:
    """Scene 0 shows the user's photo, 1 the released portrait, 2 the other, 3 the pack."""
    headline, claim = (
        text("Skin, but brighter", "copy", "h1"),
        text("Fragrance free", "claim", "c1"),
    )
    shown: list[tuple[str, list[str], Background, GroundedText | None]] = [
        ("hook", [], Background(kind="image", image=str(user_photo)), None),
        ("product", ["face-released"], Background(kind="gradient"), headline),
        ("proof", ["face-unreleased"], Background(kind="gradient"), claim),
        ("cta", ["pack"], Background(kind="gradient"), None),
    ]
    scenes = [
        Scene(
            index=i,
            role=role,  # type: ignore[arg-type]
            start_s=1.5 * i,
            duration_s=1.5,
            asset_ids=ids,
            background=bg,
            on_screen_text=on_screen,
        )
        for i, (role, ids, bg, on_screen) in enumerate(shown)
    ]
    fields: dict[str, Any] = {
        "plan_id": "portraits.serum.ana",
        "campaign_id": campaign.id,
        "product_id": "serum",
        "user_id": "ana",
        "kind": "personalized",
        "matching": MatchDecision(
            compatibility=0.8, threshold=0.3, personalized=True, rationale="test"
        ),
        "context": Context(aspect_ratio="16:9", duration_s=6.0, fps=25),
        "logo_asset": "logo",
        "scenes": scenes,
        "cta": CallToAction(text=text("Shop now", "copy", "cta1"), url="https://example.com"),
        "disclosure": Disclosure(text=campaign.policy.disclosure_text),
    }
    fields.update(overrides)
    return CreativePlan(**fields)


def ana(personalizable: bool = True, user_id: str = "ana") -> UserProfile:
    return UserProfile(user_id=user_id, personalizable=personalizable, reason="test")


@dataclasses.dataclass
class Rendered:
    campaign: Campaign
    plan: CreativePlan
    creative: Creative
    profile: UserProfile | None
    ctx: CheckContext


def render(
    folder: Path, campaign: Campaign, plan: CreativePlan, profile: UserProfile | None
) -> Rendered:
    creative = TemplateRenderer().render(plan, campaign, folder / f"{plan.plan_id}.mp4")
    ctx = BasicVerifier().context(creative, plan, campaign, profile)
    return Rendered(campaign, plan, creative, profile, ctx)


@pytest.fixture(scope="module")
def portraits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Rendered, Path]:
    folder = tmp_path_factory.mktemp("portraits")
    campaign, user_photo = portrait_campaign(folder)
    plan = portrait_plan(campaign, user_photo)
    return render(folder, campaign, plan, ana()), user_photo


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    """The bundled sample's boots, personalized for maya (her photo as a backdrop)."""
    folder = tmp_path_factory.mktemp("sample")
    campaign, users = load_sample()
    maya = next(u for u in users if u.id == "maya")
    planner = TemplatePlanner(TemplatePlannerConfig(embedder="hashing", min_compatibility=0.0))
    profile = planner.profile(maya, campaign)
    out = {}
    for aspect in ("16:9", "9:16"):
        context = campaign.contexts[0].model_copy(update={"aspect_ratio": aspect})
        plan = planner.plan(campaign, campaign.products[0], context, maya, profile)
        out[aspect] = render(folder, campaign, plan, profile)
    return out


# --------------------------------------------------------------------------- exports, options


def test_module_exports_its_checks_and_section() -> None:
    assert [c.name for c in CHECKS] == ["nsfw", "faces", "licensing"]
    assert {c.track for c in CHECKS} == {"compliance"}
    assert [c.needs_video for c in CHECKS] == [True, True, False]
    assert imagery.SECTION == "imagery"
    opts = ImageryOptions()
    assert set(opts.nsfw_labels) == set(imagery.EXPOSED_LABELS)
    assert opts.suggestive_score > opts.nsfw_score
    assert opts.modifying_uses == ["background"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"nsfw_labels": ["NAKED"]}, "unknown NudeNet class(es) NAKED"),
        ({"suggestive_labels": ["FACE_FEMALE", "TOPLESS"]}, "unknown NudeNet class(es) TOPLESS"),
        ({"nsfw_score": 0.8, "suggestive_score": 0.6}, "suggestive_score 0.6 is below nsfw_score"),
        ({"nsfw_score": 1.5}, "less than or equal to 1"),
        ({"face_detector": "yolo"}, "'auto', 'haar' or 'nudenet'"),
        ({"face_min_size": 0}, "greater than 0"),
        ({"face_analysis_px": 50}, "greater than or equal to 120"),
        ({"modifying_uses": ["poster"]}, "'visual', 'background' or 'logo'"),
        ({"nsfw_threshold": 0.5}, "Extra inputs are not permitted"),
    ],
)
def test_options_reject_bad_values(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match="1 validation error") as err:
        ImageryOptions(**fields)
    assert message in str(err.value)


# --------------------------------------------------------------------------- real models


@pytest.mark.parametrize("aspect", ["16:9", "9:16"])
def test_sample_render_passes_with_the_real_models(
    sample: dict[str, Rendered], aspect: str
) -> None:
    r = sample[aspect]
    assert r.plan.kind == "personalized"
    backdrop = [s.background.image for s in r.plan.scenes if s.background.kind == "image"]
    assert backdrop, "the sample user's photo should be a backdrop"
    verdict = BasicVerifier(checks=DEFAULT_CHECKS + CHECKS).verify(
        r.creative, r.plan, r.campaign, r.profile
    )
    by_name = {c.name: c for c in verdict.checks}
    shots = len(r.plan.scenes)
    assert by_name["nsfw"].passed, by_name["nsfw"].message
    # Stills, the product shot, the logo and maya's photo: all scanned, nothing found.
    assert by_name["nsfw"].message == f"no nudity in {shots} stills and 3 images"
    assert by_name["faces"].passed, by_name["faces"].message
    assert by_name["faces"].message == f"no face in {shots} stills"
    assert by_name["licensing"].passed, by_name["licensing"].message
    own = [e for e in verdict.evidence if e.check == "licensing"]
    assert [e.text for e in own] == backdrop
    assert own[0].message.endswith("history of user 'maya', shown in their personalized plan")


def test_haar_finds_drawn_faces_of_several_sizes() -> None:
    haar_or_skip()
    detect = imagery.face_detector(ImageryOptions(face_detector="haar"))
    for size in (90, 150, 260):
        canvas = np.full((720, 1280, 3), 200, dtype=np.uint8)
        face = np.asarray(draw_face(size))
        canvas[40 : 40 + face.shape[0], 300 : 300 + face.shape[1]] = face
        found = detect(canvas)
        assert len(found) == 1, (size, found)
        expected = skin_faces(canvas)[0].box
        assert overlap(found[0].box, expected) > 0.5, (size, found, expected)
        assert 0.6 * size < found[0].box.h < 2.0 * size


def test_haar_faces_check_end_to_end(portraits: tuple[Rendered, Path]) -> None:
    haar_or_skip()
    r, _ = portraits
    ctx = with_options(r.ctx, face_detector="haar")
    finding = imagery.faces(ctx)
    seen = {e.scene_index: e for e in finding.evidence}
    assert set(seen) == {0, 1, 2}, finding.evidence
    for index, frame in ((i, f) for i, _, f in ctx.stills() if i in seen):
        drawn = skin_faces(frame)[0].box
        assert seen[index].box is not None
        assert overlap(seen[index].box, drawn) > 0.5
    assert finding.result.severity == "major"
    assert [seen[i].text for i in (1, 2)] == ["face-released", "face-unreleased"]


# --------------------------------------------------------------------------- nsfw


def fixed(
    *found: Detection, shape: tuple[int, ...] | None = None
) -> Callable[[U8], list[Detection]]:
    """A detector reporting ``found`` on images of ``shape`` (every image when None)."""

    def detect(rgb: U8) -> list[Detection]:
        return list(found) if shape is None or rgb.shape[:2] == shape else []

    return detect


BOX = Box(x=500, y=200, w=120, h=90)


@pytest.mark.parametrize(
    ("label", "score", "severity"),
    [
        ("FEMALE_BREAST_EXPOSED", 0.9, "critical"),
        ("MALE_GENITALIA_EXPOSED", 0.46, "critical"),
        ("ANUS_EXPOSED", 0.44, None),
        ("BUTTOCKS_COVERED", 0.8, "major"),
        ("FEMALE_BREAST_COVERED", 0.6, None),
        ("FACE_FEMALE", 0.99, None),
        ("FEET_EXPOSED", 0.95, None),
    ],
)
def test_nsfw_severity_by_class_and_score(
    portraits: tuple[Rendered, Path],
    monkeypatch: pytest.MonkeyPatch,
    label: str,
    score: float,
    severity: str | None,
) -> None:
    r, _ = portraits
    monkeypatch.setattr(
        imagery, "nsfw_detector", lambda: fixed(Detection(label, score, BOX), shape=(720, 1280))
    )
    finding = imagery.nsfw(r.ctx)
    if severity is None:
        assert finding.result.passed
        assert finding.result.message == "no nudity in 4 stills and 5 images"
        return
    assert not finding.result.passed
    assert finding.result.severity == severity
    stills = dict((i, t) for i, t, _ in r.ctx.stills())
    assert [e.scene_index for e in finding.evidence] == [0, 1, 2, 3]
    for e in finding.evidence:
        assert e.box == BOX
        assert e.start_s == e.end_s == round(stills[e.scene_index], 3)  # type: ignore[index]
        assert e.frame == round(stills[e.scene_index] * 25)  # type: ignore[index]
        assert e.message.startswith(f"scene {e.scene_index} at ")
        assert f"{label} ({score:.2f}) 120x90 at 500,200" in e.message


def test_nsfw_options_move_the_thresholds(
    portraits: tuple[Rendered, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _ = portraits
    found = Detection("BELLY_EXPOSED", 0.8, BOX)
    monkeypatch.setattr(imagery, "nsfw_detector", lambda: fixed(found, shape=(720, 1280)))
    assert imagery.nsfw(r.ctx).result.passed
    strict = with_options(
        r.ctx, nsfw_labels=["BELLY_EXPOSED"], nsfw_score=0.75, suggestive_score=0.9
    )
    assert imagery.nsfw(strict).result.severity == "critical"
    lenient = with_options(
        r.ctx, nsfw_labels=["BELLY_EXPOSED"], nsfw_score=0.85, suggestive_score=0.9
    )
    assert imagery.nsfw(lenient).result.passed


def test_nsfw_scans_every_image_the_plan_uses(
    portraits: tuple[Rendered, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, user_photo = portraits
    hit = Detection("BUTTOCKS_EXPOSED", 0.7, Box(x=10, y=20, w=30, h=40))
    # The drawn portraits are 330x330, the user's photo 640x360; frames are 1280x720.
    monkeypatch.setattr(imagery, "nsfw_detector", lambda: fixed(hit, shape=(330, 330)))
    finding = imagery.nsfw(r.ctx)
    assert finding.result.severity == "critical"
    assert [(e.scene_index, e.text) for e in finding.evidence] == [
        (1, "face-released"),
        (2, "face-unreleased"),
    ]
    first = finding.evidence[0]
    assert (first.start_s, first.end_s) == (1.5, 3.0)
    assert "scene 1 visual image 'face-released': BUTTOCKS_EXPOSED (0.70)" in first.message
    assert "30x40 at 10,20 of the image" in first.message

    monkeypatch.setattr(imagery, "nsfw_detector", lambda: fixed(hit, shape=(360, 640)))
    finding = imagery.nsfw(r.ctx)
    assert [(e.scene_index, e.text) for e in finding.evidence] == [(0, str(user_photo))]

    monkeypatch.setattr(imagery, "nsfw_detector", lambda: fixed(hit, shape=(360, 640)))
    assert imagery.nsfw(with_options(r.ctx, scan_assets=False)).result.passed


def test_nsfw_fails_closed_on_an_unreadable_image(
    portraits: tuple[Rendered, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    r, _ = portraits
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    scenes = list(r.plan.scenes)
    scenes[0] = scenes[0].model_copy(
        update={"background": Background(kind="image", image=str(broken))}
    )
    ctx = dataclasses.replace(r.ctx, plan=r.plan.model_copy(update={"scenes": scenes}))
    monkeypatch.setattr(imagery, "nsfw_detector", lambda: fixed())
    finding = imagery.nsfw(ctx)
    assert finding.result.severity == "major"
    assert finding.evidence[0].scene_index == 0
    assert "could not be scanned" in finding.evidence[0].message
    assert "unreadable image" in finding.evidence[0].message


def test_missing_model_package_names_the_extra(
    portraits: tuple[Rendered, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "nudenet", None)
    with pytest.raises(MissingExtraError, match=r"'nudenet' package: pip install 'adloom\[nsfw\]'"):
        imagery.nsfw_detector.__wrapped__()
    monkeypatch.setattr(imagery, "nsfw_detector", imagery.nsfw_detector.__wrapped__)
    finding = imagery.nsfw(portraits[0].ctx)
    assert finding.result.severity == "critical"
    assert finding.result.message.startswith("check could not run: MissingExtraError")


# --------------------------------------------------------------------------- faces


def test_faces_are_traced_to_their_picture(
    portraits: tuple[Rendered, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _ = portraits
    monkeypatch.setattr(imagery, "face_detector", lambda opts: skin_faces)
    finding = imagery.faces(r.ctx)
    assert not finding.result.passed
    assert finding.result.severity == "major"
    evidence = {e.scene_index: e for e in finding.evidence}
    assert set(evidence) == {0, 1, 2}  # scene 3 shows only the pack shot
    stills = {i: (t, f) for i, t, f in r.ctx.stills()}
    for i, e in evidence.items():
        t, frame = stills[i]
        assert e.box == skin_faces(frame)[0].box
        assert e.frame == round(t * 25)
        assert e.start_s == e.end_s == round(t, 3)
    user, released, unreleased = evidence[0], evidence[1], evidence[2]
    assert "a user's image that is no asset" in user.message
    assert "selfie.png" in user.message
    assert user.message.endswith("face without a recorded model release")
    assert released.text == "face-released"
    assert released.message.endswith("covered by its model release")
    assert unreleased.text == "face-unreleased"
    assert "in scene 2 visual asset 'face-unreleased'" in unreleased.message
    assert finding.result.score == pytest.approx(1 / 3)
    # Product shots sit on the right in landscape scenes with text.
    for e in (released, unreleased):
        assert e.box is not None
        assert e.box.x > 640


def test_faces_follow_the_plan_and_its_releases(
    portraits: tuple[Rendered, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _ = portraits
    monkeypatch.setattr(imagery, "face_detector", lambda opts: skin_faces)
    campaign = relicensed(r.campaign, "face-unreleased", model_release=True)
    # The frames still show the user's photo in scene 0, but this plan does not: the face
    # there matches no picture of the plan.
    plan = rescene(r.plan, 0, background=Background())
    finding = imagery.faces(dataclasses.replace(r.ctx, campaign=campaign, plan=plan))
    released = [e for e in finding.evidence if e.message.endswith("covered by its model release")]
    assert [(e.scene_index, e.text) for e in released] == [
        (1, "face-released"),
        (2, "face-unreleased"),
    ]
    (stray,) = [e for e in finding.evidence if e not in released]
    assert stray.scene_index == 0
    assert "where no image of the plan is: face without a recorded model release" in stray.message
    assert finding.result.severity == "major"

    plan = rescene(r.plan, 0, asset_ids=[], background=Background(), on_screen_text=None)
    ctx = dataclasses.replace(r.ctx, campaign=campaign, plan=plan)
    monkeypatch.setattr(
        imagery,
        "face_detector",
        lambda opts: lambda rgb: [d for d in skin_faces(rgb) if d.box.x > 640],
    )
    finding = imagery.faces(ctx)
    assert finding.result.passed
    assert finding.result.message == "2 face(s), all covered by model releases"


def test_faces_without_a_layout_fall_back_to_the_background(
    portraits: tuple[Rendered, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    r, _ = portraits
    monkeypatch.setattr(imagery, "face_detector", lambda opts: skin_faces)
    moved = r.campaign.model_copy().with_base_dir(tmp_path)  # asset files are not there
    finding = imagery.faces(dataclasses.replace(r.ctx, campaign=moved))
    messages = {e.scene_index: e.message for e in finding.evidence}
    assert "selfie.png" in messages[0]
    assert "where no image of the plan is (layout unknown: " in messages[1]
    assert "missing asset 'logo' file" in messages[1]
    assert finding.result.severity == "major"


def test_face_detector_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(imagery, "haar_cascades", lambda: None)
    with pytest.raises(
        AdloomError, match="ships no Haar cascades; install opencv-python-headless<5"
    ):
        imagery.face_detector(ImageryOptions(face_detector="haar"))
    found = [
        Detection("FACE_FEMALE", 0.8, BOX),
        Detection("FACE_MALE", 0.3, BOX),
        Detection("FEET_EXPOSED", 0.9, BOX),
    ]
    monkeypatch.setattr(imagery, "nsfw_detector", lambda: fixed(*found))
    frame = np.zeros((72, 128, 3), dtype=np.uint8)
    auto = imagery.face_detector(ImageryOptions())
    assert auto(frame) == found[:1]
    lenient = imagery.face_detector(ImageryOptions(face_detector="nudenet", face_score=0.2))
    assert lenient(frame) == found[:2]


# --------------------------------------------------------------------------- licensing

TODAY = date.today()
ALLOWED_PHOTO = (
    "scene 0 background 'selfie.png' comes from the history of user 'ana', shown in their "
    "personalized plan"
)


def licensing_ctx(
    campaign: Campaign,
    plan: CreativePlan,
    tmp_path: Path,
    profile: UserProfile | None = None,
    metadata: dict[str, str] | None = None,
    **options: Any,
) -> CheckContext:
    creative = Creative(
        creative_id="c",
        plan_id=plan.plan_id,
        path=str(tmp_path / "none.mp4"),
        width=1280,
        height=720,
        fps=25,
        duration_s=6.0,
        frame_count=150,
        sha256="0" * 64,
        seed=0,
        renderer="template",
        disclosure_text="AI-generated",
        disclosure_box=Box(x=0, y=0, w=10, h=10),
        metadata=metadata or {},
    )
    ctx = CheckContext(creative, plan, campaign, profile, Thresholds())
    return with_options(ctx, **options) if options else ctx


def relicensed(campaign: Campaign, asset_id: str, **fields: Any) -> Campaign:
    product = campaign.products[0]
    assets = [
        a.model_copy(update={"license": license_of(**fields)}) if a.id == asset_id else a
        for a in product.assets
    ]
    return campaign.model_copy(
        update={"products": [product.model_copy(update={"assets": assets})]}
    ).with_base_dir(campaign.base_dir)


def rescene(plan: CreativePlan, index: int, **fields: Any) -> CreativePlan:
    scenes = [s.model_copy(update=fields) if s.index == index else s for s in plan.scenes]
    return plan.model_copy(update={"scenes": scenes})


def pack_background(campaign: Campaign) -> Background:
    return Background(kind="image", image=str(campaign.base_dir / "pack.png"))


Change = Callable[[Campaign, CreativePlan], dict[str, Any]]
#: Expected problem: (severity, scene index, asset reference ends with, message contains).
Expected = tuple[str, int | None, str, str]
YESTERDAY = TODAY - timedelta(days=1)
CREDIT = "Pack photo: R. Lind"

#: (case, edits to the portrait campaign/plan/profile/metadata/options, expected problems).
LICENSING_CASES: list[tuple[str, Change, list[Expected]]] = [
    ("clean", lambda c, p: {}, []),
    (
        "unknown scene asset",
        lambda c, p: {"plan": rescene(p, 3, asset_ids=["pack", "pack-v2"])},
        [("critical", 3, "pack-v2", "scene 3 visual: unknown asset 'pack-v2' (not in 'serum')")],
    ),
    (
        "unknown logo",
        lambda c, p: {"plan": p.model_copy(update={"logo_asset": "old-logo"})},
        [("critical", None, "old-logo", "logo: unknown asset 'old-logo'")],
    ),
    (
        "expired yesterday",
        lambda c, p: {"campaign": relicensed(c, "pack", expires=YESTERDAY)},
        [("critical", 3, "pack", f"scene 3 visual: licence for 'pack' expired on {YESTERDAY}")],
    ),
    ("expires today", lambda c, p: {"campaign": relicensed(c, "pack", expires=TODAY)}, []),
    (
        "no modification, shown as a product shot",
        lambda c, p: {"campaign": relicensed(c, "pack", allows_modification=False)},
        [],
    ),
    (
        "no modification, used as a background",
        lambda c, p: {
            "campaign": relicensed(c, "pack", allows_modification=False),
            "plan": rescene(p, 1, background=pack_background(c)),
        },
        [
            (
                "major",
                1,
                "pack",
                "scene 1 background: licence for 'pack' forbids modification, and a "
                "background is cropped to the frame",
            )
        ],
    ),
    (
        "no modification, strict about scaling",
        lambda c, p: {
            "campaign": relicensed(c, "logo", allows_modification=False),
            "options": {"modifying_uses": ["background", "logo"]},
        },
        [("major", None, "logo", "logo: licence for 'logo' forbids modification, and a logo is")],
    ),
    (
        "attribution missing",
        lambda c, p: {"campaign": relicensed(c, "pack", attribution=CREDIT)},
        [
            (
                "minor",
                None,
                "pack",
                f"licence for 'pack' requires the attribution '{CREDIT}', missing from the "
                "creative metadata",
            )
        ],
    ),
    (
        "attribution in the metadata",
        lambda c, p: {
            "campaign": relicensed(c, "pack", attribution=CREDIT),
            "metadata": {"credits": f"{CREDIT}; Model: A. Berg"},
        },
        [],
    ),
    (
        "user's image in a generic plan",
        lambda c, p: {"plan": p.model_copy(update={"kind": "generic", "user_id": None})},
        [
            (
                "critical",
                0,
                "selfie.png",
                "scene 0 background 'selfie.png' is no campaign asset (a user's image) in a "
                "generic plan",
            )
        ],
    ),
    (
        "user's image checked against another user's profile",
        lambda c, p: {"profile": ana(user_id="ben")},
        [("critical", 0, "selfie.png", "plan for 'ana', verified against the profile of 'ben'")],
    ),
    (
        "user's image without consent",
        lambda c, p: {"profile": ana(personalizable=False)},
        [("critical", 0, "selfie.png", "profile does not allow personalization")],
    ),
]
SEVERITIES = ["info", "minor", "major", "critical"]


@pytest.mark.parametrize(
    ("change", "expected"), [c[1:] for c in LICENSING_CASES], ids=[c[0] for c in LICENSING_CASES]
)
def test_licensing(
    portraits: tuple[Rendered, Path],
    tmp_path: Path,
    change: Change,
    expected: list[Expected],
) -> None:
    r, _ = portraits
    edits = {"campaign": r.campaign, "plan": r.plan, "profile": ana(), **change(r.campaign, r.plan)}
    options = edits.pop("options", {})
    ctx = licensing_ctx(tmp_path=tmp_path, **edits, **options)
    finding = imagery.licensing(ctx)
    failing = [e for e in finding.evidence if e.message != ALLOWED_PHOTO]
    assert len(failing) == len(expected), finding.evidence
    assert finding.result.passed == (not expected)
    worst = max((x[0] for x in expected), key=SEVERITIES.index, default="info")
    assert finding.result.severity == worst
    for e, (_, scene, ref, message) in zip(failing, expected, strict=True):
        assert e.scene_index == scene
        assert e.text is not None
        assert e.text.endswith(ref)
        assert message in e.message, e.message
        if scene is not None:
            span = ctx.plan.scenes[scene]
            assert (e.start_s, e.end_s) == (span.start_s, span.end_s)
    if not expected:
        assert finding.result.score == 1.0
        assert finding.result.message == "all 5 asset uses allowed"
    else:
        assert finding.result.score < 1.0


def test_licensing_names_the_user_image_it_allows(
    portraits: tuple[Rendered, Path], tmp_path: Path
) -> None:
    r, user_photo = portraits
    finding = imagery.licensing(licensing_ctx(r.campaign, r.plan, tmp_path, profile=None))
    assert finding.result.passed
    (info,) = finding.evidence
    assert info.text == str(user_photo)
    assert info.message == ALLOWED_PHOTO


def test_licensing_without_the_product(portraits: tuple[Rendered, Path], tmp_path: Path) -> None:
    r, _ = portraits
    plan = r.plan.model_copy(update={"product_id": "toner"})
    finding = imagery.licensing(licensing_ctx(r.campaign, plan, tmp_path))
    assert finding.result.severity == "critical"
    assert finding.result.message == "no product 'toner' to check the plan's assets against"


def test_licensing_end_to_end_rejects_a_generic_plan_with_a_user_photo(
    portraits: tuple[Rendered, Path], tmp_path: Path
) -> None:
    r, _ = portraits
    plan = r.plan.model_copy(update={"kind": "generic", "user_id": None})
    verdict = BasicVerifier(checks=(imagery.licensing,)).verify(r.creative, plan, r.campaign)
    assert verdict.decision == "reject"
    (e,) = verdict.evidence
    assert (e.check, e.scene_index) == ("licensing", 0)
