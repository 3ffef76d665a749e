"""Product alignment on real renders: OCR of what is drawn, brand spelling, product and logo.

Creatives are rendered once per module: clean ones from the test campaign and the bundled
sample (16:9 and 9:16), and three flawed ones, each made the way things go wrong: text
changed after grounding, product image and logo files swapped for the other product's,
and a render without logo or product shot. The verifier always sees the intended plan.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import ValidationError
from verifier_media import make_plan, profile

from adloom.demo import load_sample
from adloom.director.embeddings import HashingEmbedder
from adloom.director.template import TemplatePlanner
from adloom.domain import (
    Campaign,
    Context,
    Creative,
    CreativePlan,
    Evidence,
    GroundedText,
    UserProfile,
    Verdict,
)
from adloom.producer.template import TemplateRenderer
from adloom.verifier.alignment import (
    CHECKS,
    SECTION,
    AlignmentOptions,
    brand_spelling,
    compare_text,
    edit_distance,
    fold,
    logo_visible,
    misspellings,
    name_words,
    ocr_text,
    readable_share,
    text_matches,
)
from adloom.verifier.basic import BasicVerifier
from adloom.verifier.checks import DEFAULT_CHECKS, CheckContext, Thresholds

pytest.importorskip("cv2")
pytest.importorskip("rapidocr")

NAMES = ("ocr_text", "brand_spelling", "product_visible", "logo_visible")
ALTERED = "Guaranteed dry for life"
MISSPELLED = "Northpeek: go further"
#: How the staged test plan films each scene: product shots zoom and pan.
CAMERAS = {"hook": "static", "product": "zoom_in", "proof": "pan_left", "cta": "static"}
#: The test campaign's plans are personalized for a hiker (their hook fills {interest}).
HIKER = profile()


def staged(campaign: Campaign, aspect: str = "16:9") -> CreativePlan:
    """The verifier's four-scene boots plan, with the product shot and the logo on screen.

    Scenes: 0 hook (no picture), 1 product (zooming), 2 proof (panning), 3 call to action.
    """
    plan = make_plan(campaign, aspect=aspect)
    scenes = [
        s.model_copy(
            update={
                "camera": CAMERAS[s.role],
                "asset_ids": [] if s.role == "hook" else ["boots-main"],
                "transition_in": "cut" if s.index == 0 else "fade",
            }
        )
        for s in plan.scenes
    ]
    palette = campaign.product("boots").palette
    return plan.model_copy(
        update={"scenes": scenes, "logo_asset": "boots-logo", "palette": palette}
    )


# --------------------------------------------------------------------------- fuzzy text


@pytest.mark.parametrize(
    ("read", "target", "match"),
    [
        ("Go further, stay dry", "Go further, stay dry", True),
        ("Every trail, every", "Every trail, every weather", True),  # a wrapped line
        ("weather", "Every trail, every weather", True),
        ("yourway.", "Sonique. Sound, your way.", True),  # words run together
        ("Al-generated", "AI-generated", True),  # l for I
        ("Waterprof membrane", "Waterproof membrane", True),  # a letter dropped
        ("Stop now", "Shop now", True),
        ("drv", "Go further, stay dry", True),  # one edit on a short word
        ("Only 48O g per boot", "Only 480 g per boot", True),  # O for 0 in a number
        ("Kettle&Crow", "Kettle & Crow", True),
        ("Up to 40 hours of", "Up to 40 hours of battery life", True),
        ("Only 48 g per boot", "Only 480 g per boot", False),  # another claim
        ("Up to 48 hours of", "Up to 40 hours of battery life", False),
        ("Guaranteed dry for life", "Waterproof membrane", False),
        ("Free shipping", "Go further, stay dry", False),
        ("Best boot ever", "Only 480 g per boot", False),
        ("", "Shop now", False),
    ],
)
def test_text_matcher(read: str, target: str, match: bool) -> None:
    assert text_matches(read, target) is match


def test_compare_text_reports_the_matched_run() -> None:
    m = compare_text("Every trai1, every", "Every trail, every weather")
    assert (m.window, m.edits) == ("every trall every", 0)
    assert m.ratio == 1.0
    assert compare_text("Shp now", "Shop now").edits == 1
    assert fold("ＡＩ-Generated 2%") == "al generated 2"


@pytest.mark.parametrize(
    ("a", "b", "limit", "distance"),
    [
        ("kitten", "sitting", None, 3),
        ("", "abc", None, 3),
        ("northpeak", "northpeak", None, 0),
        ("northpeek", "northpeak", 2, 1),
        ("abcdef", "uvwxyz", 2, 3),  # stops early: more than the limit
        ("a", "abcdefg", 2, 3),
    ],
)
def test_edit_distance(a: str, b: str, limit: int | None, distance: int) -> None:
    assert edit_distance(a, b, limit) == distance


@pytest.mark.parametrize(
    ("planned", "read", "share"),
    [
        ("Every trail, every weather", ["Every trail, every", "weather"], 1.0),
        ("Sonique. Sound, your way.", ["Sonique. Sound,", "yourway."], 1.0),
        ("Waterproof membrane", ["Waterproof"], 0.5),
        ("Waterproof membrane", ["Guaranteed dry for life"], 0.0),
        ("Waterproof membrane", [], 0.0),
    ],
)
def test_readable_share(planned: str, read: list[str], share: float) -> None:
    assert readable_share(planned, read) == share


# --------------------------------------------------------------------------- brand names


@pytest.fixture(scope="module")
def sample() -> Campaign:
    campaign, _ = load_sample()
    return campaign


@pytest.mark.parametrize(
    ("product_id", "words"),
    [
        ("trailblaze-boots", ["northpeak", "trailblaze"]),
        ("daybreak-coldbrew", ["kettle", "crow", "kettlecrow", "daybreak"]),
        ("lumi-serum", ["lumi", "labs", "lumilabs"]),
        ("aura-anc", ["sonique", "aura"]),
    ],
)
def test_name_words_are_brand_and_proper_nouns(
    sample: Campaign, product_id: str, words: list[str]
) -> None:
    assert name_words(sample.product(product_id)) == words


@pytest.mark.parametrize(
    ("text", "exempt", "found"),
    [
        ("Northpeek keeps you dry", (), [("Northpeek", "northpeak")]),
        ("The Trailblaz X2", (), [("Trailblaz", "trailblaze")]),
        ("NORTHPAEK boots", (), [("NORTHPAEK", "northpeak")]),  # 2 edits, long name
        ("Nortpeek", (), [("Nortpeek", "northpeak")]),  # 2 edits from a 9-letter name
        ("Nortpeeck", (), []),  # 3 edits: another word
        ("NORTHPEAK, every trail", (), []),  # case does not matter
        ("Two Northpeaks", (), []),  # a plural is not a misspelling
        ("Made for trailblazes", (), []),
        ("Made for trailblazer", ("trailblazer",), []),  # a user's interest
        ("Go further, stay dry", (), []),
    ],
)
def test_misspellings(text: str, exempt: tuple[str, ...], found: list[tuple[str, str]]) -> None:
    assert misspellings(text, ["northpeak", "trailblaze"], exempt=exempt) == found


def test_short_names_allow_one_edit_and_copy_words_are_not_names(sample: Campaign) -> None:
    lumi = name_words(sample.product("lumi-serum"))
    assert misspellings("Lumo Labs", lumi) == [("Lumo", "lumi")]
    assert misspellings("Lamo Labs", lumi) == []  # 2 edits from a 4-letter word
    # The product name's ordinary words ("hydrating") are not checked: copy inflects them.
    assert misspellings("Hydration you can feel", lumi) == []
    for product in sample.products:
        texts = [c.text for c in product.verified_claims] + [c.text for c in product.approved_copy]
        assert [m for t in texts for m in misspellings(t, name_words(product))] == []


def test_ocr_confusions_are_no_misspellings() -> None:
    assert misspellings("Lum1 Labs", ["lumi", "labs"], read=True) == []
    assert misspellings("Lum1 Labs", ["lumi", "labs"]) == [("Lum1", "lumi")]


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ocr_max_side", 64, "ocr_max_side"),
        ("text_match", 0.0, "text_match"),
        ("min_logo_score", 1.5, "min_logo_score"),
        ("max_brand_edits", 0, "max_brand_edits"),
        ("min_product_scre", 0.5, "Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_refused(field: str, value: float, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AlignmentOptions.model_validate({field: value})


def test_module_exports_its_checks() -> None:
    assert SECTION == "alignment"
    assert tuple(c.name for c in CHECKS) == NAMES
    assert {c.name: c.track for c in CHECKS} == {
        "ocr_text": "compliance",
        "brand_spelling": "compliance",
        "product_visible": "utility",
        "logo_visible": "compliance",
    }


# --------------------------------------------------------------------------- renders


@dataclass(frozen=True)
class Render:
    campaign: Campaign
    plan: CreativePlan
    creative: Creative
    profile: UserProfile | None = None


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alignment")


@pytest.fixture(scope="module")
def renders() -> dict[str, Creative]:
    return {}


@pytest.fixture
def render(
    renders: dict[str, Creative], folder: Path, campaign: Campaign
) -> Callable[..., Creative]:
    """``render(name, plan, drawn_with=None)``: rendered once per module.

    The test campaign is rebuilt for every test, but its drawn assets are the same
    pixels, so a creative rendered for one test is the same for the next.
    """

    def get(name: str, plan: CreativePlan, drawn_with: Campaign | None = None) -> Creative:
        if name not in renders:
            out = folder / f"{name}.mp4"
            renders[name] = TemplateRenderer().render(plan, drawn_with or campaign, out)
        return renders[name]

    return get


def verify(r: Render, plan: CreativePlan | None = None) -> Verdict:
    """All basic and alignment checks, against ``plan`` if given, else the render's own."""
    verifier = BasicVerifier(checks=DEFAULT_CHECKS + CHECKS)
    return verifier.verify(r.creative, plan or r.plan, r.campaign, r.profile)


def evidence(verdict: Verdict, check: str) -> list[Evidence]:
    return [e for e in verdict.evidence if e.check == check]


def failing(verdict: Verdict) -> dict[str, str]:
    return {c.name: c.severity for c in verdict.checks if not c.passed}


@pytest.fixture(scope="module")
def planner() -> TemplatePlanner:
    return TemplatePlanner(embedder=HashingEmbedder())


@pytest.fixture(scope="module")
def sample_renders(sample: Campaign, planner: TemplatePlanner, folder: Path) -> list[Render]:
    """A generic 16:9 creative and a personalized 9:16 one of the bundled campaign."""
    _, users = load_sample()
    aiko = next(u for u in users if u.id == "aiko")
    out = []
    for pid, aspect, user in [("daybreak-coldbrew", "16:9", None), ("lumi-serum", "9:16", aiko)]:
        who = planner.profile(user) if user else None
        plan = planner.plan(
            sample, sample.product(pid), Context(aspect_ratio=aspect, duration_s=6), user, who
        )
        creative = TemplateRenderer().render(plan, sample, folder / f"{pid}.mp4")
        out.append(Render(sample, plan, creative, who))
    assert out[1].plan.kind == "personalized"
    return out


def test_clean_test_campaign_render_passes(
    campaign: Campaign, render: Callable[..., Creative]
) -> None:
    plan = staged(campaign)
    r = Render(campaign, plan, render("clean", plan), HIKER)
    verdict = verify(r)
    assert verdict.decision == "accept", verdict.rationale
    for name in NAMES:
        assert verdict.check(name).passed
        assert verdict.check(name).score == 1.0
    found = evidence(verdict, "product_visible")
    # Every scene but the hook shows the boots; each is found where the template put it.
    assert [e.scene_index for e in found] == [1, 2, 3]
    w, h = plan.context.size
    for e in found:
        assert e.box is not None
        assert e.frame is not None
        assert e.box.x >= 0
        assert e.box.x + e.box.w <= w + 8
        assert e.box.y + e.box.h <= h + 8
        assert e.box.h > 0.3 * min(w, h)
    assert "found in 4 of 4 scenes" in verdict.check("logo_visible").message


@pytest.mark.parametrize("index", [0, 1])
def test_clean_sample_renders_pass(sample_renders: list[Render], index: int) -> None:
    r = sample_renders[index]
    verdict = verify(r)
    assert verdict.decision == "accept", verdict.rationale
    for name in NAMES:
        assert verdict.check(name).passed, verdict.check(name).message
    ocr = verdict.check("ocr_text").message
    assert f"in {len(r.plan.scenes)} scenes, all planned or approved" in ocr
    assert "spelled exactly" in verdict.check("brand_spelling").message


def test_options_come_from_the_config_section(sample_renders: list[Render]) -> None:
    class Config(Thresholds):
        alignment: AlignmentOptions

    r = sample_renders[0]
    ctx = BasicVerifier().context(r.creative, r.plan, r.campaign)
    strict = CheckContext(
        creative=r.creative,
        plan=r.plan,
        campaign=r.campaign,
        profile=None,
        limits=Thresholds(),
        video=ctx.video,
        config=Config(alignment=AlignmentOptions(min_text_chars=200)),
    )
    assert ocr_text(ctx).result.passed
    result = ocr_text(strict).result
    # Every line read is now too short to count, so no planned string is legible.
    assert (result.passed, result.severity) == (False, "minor")
    assert result.message.count("could not be read") == len(r.creative.rendered_text)


# --------------------------------------------------------------------------- flawed renders


@pytest.fixture
def flawed_text(campaign: Campaign, render: Callable[..., Creative]) -> tuple[Render, CreativePlan]:
    """Drawn: scene 0 text changed after grounding, scene 2 text with a misspelled brand.

    Returns the render as the verifier sees it (the grounded plan, and a creative record
    that claims the grounded text was drawn) and the plan carrying the misspelling.
    """
    plan = staged(campaign)
    grounded = plan.scenes[0].on_screen_text
    assert grounded is not None
    misspelled = _with_text(plan, 2, GroundedText(text=MISSPELLED, source="copy", source_id="h1"))
    drawn = _with_text(misspelled, 0, grounded.model_copy(update={"text": ALTERED}))
    creative = render("flawed-text", drawn)
    record = [
        r.model_copy(update={"text": grounded.text}) if r.text == ALTERED else r
        for r in creative.rendered_text
    ]
    lying = creative.model_copy(update={"rendered_text": record})
    return Render(campaign, misspelled, lying, HIKER), misspelled


def _with_text(plan: CreativePlan, index: int, text: GroundedText) -> CreativePlan:
    scenes = [
        s.model_copy(update={"on_screen_text": text}) if s.index == index else s
        for s in plan.scenes
    ]
    return plan.model_copy(update={"scenes": scenes})


def test_text_changed_after_grounding_is_caught(flawed_text: tuple[Render, CreativePlan]) -> None:
    r, _ = flawed_text
    verdict = verify(r)
    assert verdict.decision == "reject"
    # The record claims the grounded text: only reading the pixels finds the change.
    records = [e for e in verdict.evidence if e.check in ("grounding", "rendered_text")]
    assert records
    assert all(e.scene_index == 2 for e in records)  # the misspelled string, not scene 0
    assert failing(verdict)["ocr_text"] == "critical"
    found = evidence(verdict, "ocr_text")
    invented = [e for e in found if "not in the plan" in e.message]
    assert invented
    assert {e.scene_index for e in invented} == {0}
    read = " ".join(e.text or "" for e in invented)
    assert text_matches(read, ALTERED)
    scene = r.plan.scenes[0]
    for e in invented:
        assert (e.start_s, e.end_s) == (scene.start_s, scene.end_s)
        # The still: the first frame once 70% of the scene has passed.
        assert e.frame == math.ceil((scene.start_s + 0.7 * scene.duration_s) * 25)
        assert e.box is not None
        assert e.box.w > 50
        assert e.box.h > 20
    # The grounded string was never drawn: reported as illegible, where it was recorded.
    missing = [e for e in found if "could not be read" in e.message]
    assert [(e.scene_index, e.text) for e in missing] == [(0, "Made for hiking")]
    assert missing[0].box == next(
        t.box
        for t in r.creative.rendered_text
        if t.scene_index == 0 and t.field == "on_screen_text"
    )


def test_misspelled_brand_is_caught_in_plan_and_pixels(
    flawed_text: tuple[Render, CreativePlan],
) -> None:
    r, misspelled = flawed_text
    verdict = verify(r, misspelled)
    assert failing(verdict)["brand_spelling"] == "major"
    found = evidence(verdict, "brand_spelling")
    # One report for scene 2 (plan, record and pixels agree), localized by the frame.
    assert len(found) == 1
    e = found[0]
    assert e.message == "scene 2 on_screen_text: 'Northpeek' misspells 'Northpeak'"
    assert e.scene_index == 2
    assert e.text == MISSPELLED
    assert e.frame is not None
    assert e.box is not None
    # The misspelled string is in this plan, so the OCR check has nothing against it.
    assert not any(x.scene_index == 2 for x in evidence(verdict, "ocr_text"))


def test_brand_spelling_reads_plans_without_a_video(
    campaign: Campaign, flawed_text: tuple[Render, CreativePlan]
) -> None:
    _, misspelled = flawed_text
    ctx = CheckContext(
        creative=flawed_text[0].creative.model_copy(update={"rendered_text": []}),
        plan=misspelled,
        campaign=campaign,
        profile=None,
        limits=Thresholds(),
    )
    finding = brand_spelling(ctx)
    assert not finding.result.passed
    assert [(e.scene_index, e.frame, e.box) for e in finding.evidence] == [(2, None, None)]


@pytest.fixture
def swapped(campaign: Campaign, render: Callable[..., Creative]) -> Render:
    """The boots plan drawn with the mug's product image and logo files."""
    plan = staged(campaign)
    drawn_with = campaign.model_copy(deep=True).with_base_dir(campaign.base_dir)
    boots, mug = drawn_with.products
    boots.assets = [
        a.model_copy(update={"path": mug.asset(a.id.replace("boots", "mug")).path})
        for a in boots.assets
    ]
    return Render(campaign, plan, render("swapped", plan, drawn_with), HIKER)


def test_other_products_image_is_a_wrong_product(swapped: Render) -> None:
    verdict = verify(swapped)
    assert verdict.decision == "reject"
    assert failing(verdict)["product_visible"] == "critical"
    found = evidence(verdict, "product_visible")
    assert [e.scene_index for e in found] == [1, 2, 3]
    for e in found:
        assert "wrong product shown: 'mug-main' of 'mug'" in e.message
        scene = swapped.plan.scenes[e.scene_index or 0]
        assert (e.start_s, e.end_s) == (scene.start_s, scene.end_s)
        assert e.frame is not None
        assert e.box is not None
        assert e.box.h > 200


def test_other_products_logo_is_a_wrong_logo(swapped: Render) -> None:
    verdict = verify(swapped)
    assert failing(verdict)["logo_visible"] == "critical"
    found = evidence(verdict, "logo_visible")
    assert [e.scene_index for e in found] == [0, 1, 2, 3]
    for e in found:
        assert "wrong logo shown: 'mug-logo' of 'mug' (Mug Co)" in e.message
        # The template draws the logo in the top-left corner, 54 px high on 720p.
        assert e.box is not None
        assert e.box.x < 60
        assert e.box.y < 60
        assert 50 <= e.box.h <= 58


@pytest.mark.parametrize(
    ("logo_asset", "message"),
    [
        ("mug-logo", "logo_asset 'mug-logo' belongs to 'mug' (Mug Co), not 'boots' (Northpeak)"),
        ("boots-main", "logo_asset 'boots-main' is a product_image, not a logo"),
        ("acme-logo", "logo_asset 'acme-logo' is no asset of the campaign"),
    ],
)
def test_plan_naming_another_logo_is_rejected(
    campaign: Campaign, render: Callable[..., Creative], logo_asset: str, message: str
) -> None:
    plan = staged(campaign)
    r = Render(campaign, plan, render("clean", plan), HIKER)
    wrong = plan.model_copy(update={"logo_asset": logo_asset})
    ctx = BasicVerifier().context(r.creative, wrong, campaign)
    finding = logo_visible(ctx)
    assert finding.result.severity == "critical"
    assert finding.evidence[0].message == message
    # The frames show the boots logo, which is what the product needs.
    assert len(finding.evidence) == 1


@pytest.fixture
def bare(campaign: Campaign, render: Callable[..., Creative]) -> Render:
    """Drawn without the logo and without the product scene's picture."""
    plan = staged(campaign)
    scenes = [s.model_copy(update={"asset_ids": []}) if s.index == 1 else s for s in plan.scenes]
    drawn = plan.model_copy(update={"logo_asset": None, "scenes": scenes})
    return Render(campaign, plan, render("bare", drawn), HIKER)


def test_missing_product_image_asks_for_a_revision(bare: Render) -> None:
    verdict = verify(bare)
    assert failing(verdict)["product_visible"] == "major"
    (e,) = [x for x in evidence(verdict, "product_visible") if "not visible" in x.message]
    assert e.scene_index == 1
    assert e.message.startswith("scene 1 boots-main: product image not visible (best score")
    # The other scenes still show their shot.
    assert [
        x.scene_index for x in evidence(verdict, "product_visible") if "found" in x.message
    ] == [2, 3]


def test_missing_logo_asks_for_a_revision(bare: Render) -> None:
    verdict = verify(bare)
    assert failing(verdict)["logo_visible"] == "major"
    found = evidence(verdict, "logo_visible")
    assert [e.scene_index for e in found] == [0, 1, 2, 3]
    assert all("logo 'boots-logo' not visible" in e.message for e in found)
    assert all(e.frame is not None for e in found)


def test_plan_without_logo_is_a_revision(bare: Render) -> None:
    plan = bare.plan.model_copy(update={"logo_asset": None})
    ctx = BasicVerifier().context(bare.creative, plan, bare.campaign)
    finding = logo_visible(ctx)
    assert (finding.result.passed, finding.result.severity) == (False, "major")
    assert finding.result.message == "plan shows no logo; product has 'boots-logo'"


def test_unknown_scene_asset_is_reported(campaign: Campaign, bare: Render) -> None:
    scenes = [
        s.model_copy(update={"asset_ids": ["boots-main", "boots-gone"]}) if s.index == 2 else s
        for s in bare.plan.scenes
    ]
    plan = bare.plan.model_copy(update={"scenes": scenes})
    ctx = BasicVerifier(checks=CHECKS).context(bare.creative, plan, campaign)
    product_visible = next(c for c in CHECKS if c.name == "product_visible")
    unknown = [e for e in product_visible(ctx).evidence if "has no asset" in e.message]
    assert [(e.scene_index, e.message) for e in unknown] == [
        (2, "scene 2 asset_ids.1: product 'boots' has no asset 'boots-gone'")
    ]


def test_missing_opencv_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, sample_renders: list[Render]
) -> None:
    r = sample_renders[0]
    ctx = BasicVerifier().context(r.creative, r.plan, r.campaign)
    monkeypatch.setitem(sys.modules, "cv2", None)
    product_visible = next(c for c in CHECKS if c.name == "product_visible")
    result = product_visible(ctx).result
    assert (result.passed, result.severity) == (False, "critical")
    assert "'product_visible' needs the 'opencv-python-headless' package" in result.message
    assert "adloom[vision]" in result.message
