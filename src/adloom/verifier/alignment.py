"""Product alignment: what the frames really show, against the plan and the product.

The basic checks trust the creative's record of what was drawn; these read the pixels.
Each scene's still (taken once its text has faded in) is

* read with OCR (:mod:`adloom.verifier.ocr`): every line must be a planned string, a
  verified claim or approved copy of the product (``ocr_text``), and the brand and
  product name must be spelled exactly there and in the plan (``brand_spelling``);
* searched for the scene's product images and for the logo with OpenCV template
  matching (``product_visible``, ``logo_visible``); the other products' images and logos
  are searched too when the planned one is missing, so a swapped product or logo is
  told apart from a missing one.

OCR is imperfect, so read text is compared after folding case, punctuation and the
letters OCR confuses (``l``/``I``/``1``, ``o``/``0``), within an edit ratio. Numbers
are compared exactly: "48 g" for "480 g" is a different claim, not a misread.

Image matching follows the template layout (:mod:`adloom.producer.layers`): product
shots are trimmed to their opaque pixels, fitted to their slot, shadowed and, under
zoom cameras, scaled by up to 15% during the scene; the logo is fitted into 20% of the
frame width by 7.5% of its shorter side and overlaid in a top corner on every frame.
The asset's alpha is the match mask, so whatever background the renderer chose does not
count. A coarse search over scales runs on a reduced grey frame; the best candidates are
refined at twice that resolution, their scale narrowed to half a percent (a wordmark
only correlates within a percent or two of its drawn size, so the logo's layout size is
always tried). The score multiplies the masked grey correlation (the right shape) by a
colour agreement (the right product: two products drawn from one template may differ
only in colour). A logo stays put, so once found it is first looked for at the same
place in the other stills.

The verifier config section for these checks is :data:`SECTION` (:class:`AlignmentOptions`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from adloom.domain import Asset, Box, Product
from adloom.errors import MissingExtraError
from adloom.grounding import fill, normalize, slot_names
from adloom.io import sha256_file
from adloom.producer.layers import load_image, trim
from adloom.verifier.checks import Check, CheckContext, Outcome, Problem, check
from adloom.verifier.ocr import DEFAULT_MAX_SIDE, OcrLine, read_text
from adloom.verifier.video import VideoScan

if TYPE_CHECKING:
    from types import ModuleType

#: The verifier config section holding :class:`AlignmentOptions`.
SECTION = "alignment"

U8Array = npt.NDArray[np.uint8]
T = TypeVar("T")

#: The logo's box in the template layout: a share of the frame width, of its shorter side.
LOGO_BOX = (0.2, 0.075)
#: Product shots are searched from this share of the frame's shorter side (their longer
#: side) up to the whole frame; three shots side by side still measure twice as much.
PRODUCT_MIN_SIZE = 0.12
#: Mean colour error (0-255, RGB) at which a matched shape stops counting as the asset.
COLOR_TOLERANCE = 80.0
#: Factor between the scales of the coarse image search.
SCALE_STEP = 1.15
#: A match score past which the search stops looking at other candidates.
SURE = 0.85


class AlignmentOptions(BaseModel):
    """Thresholds of the product alignment checks (verifier config section ``alignment``)."""

    model_config = ConfigDict(extra="forbid")

    ocr_max_side: int = Field(
        DEFAULT_MAX_SIDE,
        ge=160,
        le=4096,
        description="Longer side (px) frames are reduced to for text detection (recognition "
        "reads the full-resolution frame): larger finds smaller text, and costs more.",
    )
    ocr_min_score: float = Field(
        0.6, ge=0.0, le=1.0, description="Lines OCR is less sure of than this are ignored."
    )
    min_text_chars: int = Field(
        3,
        ge=1,
        description="Read lines with fewer letters and digits are ignored: a round shape in "
        "a product shot reads as 'O', a dot as a bullet.",
    )
    text_match: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="Similarity (1 - edit ratio, after folding) a read line needs to count "
        "as a planned or approved string; one edit is always tolerated.",
    )
    readable_share: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Share of a planned string's words that must be read back in its "
        "scene; below it the string counts as illegible (minor).",
    )
    max_brand_edits: int = Field(
        2,
        ge=1,
        le=4,
        description="Most edits for a near-miss of a brand or product name word: one for "
        "words under 8 letters, up to this many for longer ones.",
    )
    min_product_score: float = Field(
        0.65,
        ge=0.0,
        le=1.0,
        description="Match score (correlation x colour agreement) a product image needs.",
    )
    min_logo_score: float = Field(
        0.7, ge=0.0, le=1.0, description="Match score the logo needs in each scene."
    )
    wrong_margin: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="How much better another product's image or logo must match than the "
        "planned one before the scene counts as showing the wrong one.",
    )
    coarse_side: int = Field(
        320,
        ge=96,
        le=1920,
        description="Longer side (px) of the frame for the coarse product image search.",
    )
    logo_px: int = Field(
        32,
        ge=12,
        le=256,
        description="Height (px) the expected logo is reduced to for its coarse search.",
    )


def _cv2(check_name: str) -> ModuleType:
    try:
        import cv2
    except ImportError as exc:
        raise MissingExtraError(check_name, "vision", "opencv-python-headless") from exc
    return cv2


def _slot(scan: VideoScan) -> dict[Hashable, Any]:
    """Results shared between checks for one decoded video (OCR, image matches)."""
    return scan.derived


def _memo(scan: VideoScan, key: Hashable, compute: Callable[[], T]) -> T:
    return scan.memo(key, compute)


# --------------------------------------------------------------------------- fuzzy text

#: Characters OCR mixes up, folded to one of each: to letters in words, to digits in
#: numbers (a word of digits and look-alike letters only).
_LETTERS = str.maketrans({"0": "o", "1": "l", "i": "l", "5": "s"})
_NUMBERS = str.maketrans({"o": "0", "l": "1", "i": "1", "s": "5"})
_DIGIT_LIKE = frozenset("0123456789olis")
_WORD = re.compile(r"[^\W_]+")
_DIGITS = re.compile(r"\d+")


def words(text: str) -> list[str]:
    """Words of ``text``, case-folded, punctuation dropped (NFKC first: full-width, ligatures)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _fold_word(word: str) -> str:
    if not any(c.isdigit() for c in word):
        return word.translate(_LETTERS)
    if set(word) <= _DIGIT_LIKE:  # "48O": a number with a misread digit
        return word.translate(_NUMBERS)
    return word.translate(_LETTERS) if any(c.isalpha() for c in word) else word


def fold(text: str) -> str:
    """``text`` reduced to what OCR reads reliably: lower-case words, confusables merged."""
    return " ".join(_fold_word(w) for w in words(text))


def edit_distance(a: str, b: str, limit: int | None = None) -> int:
    """Levenshtein distance; stops early (returning ``limit + 1``) once it exceeds ``limit``."""
    if len(a) < len(b):
        a, b = b, a
    if limit is not None and len(a) - len(b) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb)))
        if limit is not None and min(row) > limit:
            return limit + 1
        prev = row
    return prev[-1]


@dataclass(frozen=True)
class TextMatch:
    """How a read string compares with the stretch of a target string it is closest to."""

    ratio: float
    edits: int
    window: str

    def ok(self, min_ratio: float) -> bool:
        return self.ratio >= min_ratio or (self.edits <= 1 and len(self.window) >= 3)


_NO_MATCH = TextMatch(0.0, 1 << 30, "")


def compare_text(read: str, target: str) -> TextMatch:
    """The best alignment of ``read`` with a run of ``target``'s words.

    A line of a wrapped headline is a run of the planned string's words, so ``read`` is
    compared with every run of about as many words. Numbers must agree exactly.
    """
    r, t = fold(read).split(), fold(target).split()
    if not r or not t:
        return _NO_MATCH
    a = " ".join(r)
    digits = Counter(_DIGITS.findall(a))
    best = _NO_MATCH
    n = len(r)
    for size in range(min(max(1, n - 1), len(t)), min(len(t), n + 1) + 1):
        for i in range(len(t) - size + 1):
            b = " ".join(t[i : i + size])
            if digits - Counter(_DIGITS.findall(b)):
                continue
            longest = max(len(a), len(b))
            edits = edit_distance(a, b, limit=longest // 2)
            ratio = max(0.0, 1.0 - edits / longest)
            if ratio > best.ratio:
                best = TextMatch(ratio, edits, b)
                if edits == 0:
                    return best
    return best


def text_matches(read: str, target: str, min_ratio: float = 0.8) -> bool:
    """Whether ``read`` (an OCR line) is ``target`` or a run of its words, up to OCR noise."""
    return compare_text(read, target).ok(min_ratio)


def _covered(word: str, read: Sequence[str], joined: str) -> bool:
    if word in joined:  # also when OCR merged two words ("yourway")
        return True
    allowed = 1 if len(word) >= 4 else 0
    return any(edit_distance(word, w, allowed) <= allowed for w in read)


def readable_share(planned: str, read_lines: Iterable[str]) -> float:
    """Share of ``planned``'s words found among the words read (each within one edit)."""
    target = fold(planned).split()
    if not target:
        return 1.0
    read = [w for line in read_lines for w in fold(line).split()]
    joined = "".join(read)
    return sum(_covered(w, read, joined) for w in target) / len(target)


# --------------------------------------------------------------------------- brand names


def name_words(product: Product) -> list[str]:
    """The words of the brand and product name whose spelling is checked.

    Every brand word counts; of the product name only proper nouns (capitalized words),
    since "hydrating" or "coffee" in a name are ordinary words that copy may inflect.
    """
    out = [w for w in words(product.brand) if len(w) >= 4]
    brand = "".join(words(product.brand))
    if len(words(product.brand)) > 1 and len(brand) >= 4:
        out.append(brand)
    for raw in product.name.split():
        if raw[:1].isupper():
            out.extend(w for w in words(raw) if len(w) >= 4)
    return list(dict.fromkeys(out))


def _inflected(word: str, name: str) -> bool:
    return word in (name + "s", name + "es", name + "'s") or name in (word + "s", word + "es")


def misspellings(
    text: str,
    names: Sequence[str],
    *,
    max_edits: int = 2,
    exempt: Iterable[str] = (),
    read: bool = False,
) -> list[tuple[str, str]]:
    """(word as written, name it nearly spells) for each near-miss of ``names`` in ``text``.

    A near-miss is 1 edit from a name under 8 letters, up to ``max_edits`` from a longer
    one, case-insensitively; plurals and ``exempt`` words (slot values) are fine. For
    ``read`` (OCR) text, a word that differs from a name only in letters OCR confuses
    (``l``/``I``/``1``, ``o``/``0``) is the name misread, not misspelled.
    """
    skip = {w for e in exempt for w in words(e)}
    found: list[tuple[str, str]] = []
    originals = _WORD.findall(unicodedata.normalize("NFKC", text))
    for raw in originals:
        word = raw.casefold()
        if len(word) < 4 or word in names or word in skip:
            continue
        for name in names:
            allowed = 1 if len(name) < 8 else max_edits
            edits = edit_distance(word, name, allowed)
            if read and fold(word) == fold(name):
                continue
            if 1 <= edits <= allowed and not _inflected(word, name):
                found.append((raw, name))
                break
    return found


def _spelled(name: str, product: Product) -> str:
    """``name`` (a folded name word) as the product spells it."""
    for source in (product.brand, product.name):
        raws: list[str] = _WORD.findall(source)
        for raw in raws:
            if raw.casefold() == name:
                return raw
        if "".join(words(source)) == name:
            return "".join(raws)
    return name


# --------------------------------------------------------------------------- images


@dataclass(frozen=True, eq=False)
class Sprite:
    """An asset image ready for matching: trimmed to its opaque pixels, RGB plus alpha."""

    key: str
    rgb: U8Array
    gray: U8Array
    alpha: U8Array

    @property
    def size(self) -> tuple[int, int]:
        return int(self.alpha.shape[1]), int(self.alpha.shape[0])


@lru_cache(maxsize=64)
def _sprite(path: str, mtime_ns: int) -> Sprite:
    img = trim(load_image(Path(path), "asset")).convert("RGBA")
    data = np.asarray(img)
    return Sprite(
        key=sha256_file(path),
        rgb=np.ascontiguousarray(data[..., :3]),
        gray=np.asarray(img.convert("L")),
        alpha=np.ascontiguousarray(data[..., 3]),
    )


def sprite(path: Path) -> Sprite:
    """The asset image at ``path`` (an input error if missing), cached while unchanged."""
    load_image(path, "asset")  # the caller's error if it is missing or unreadable
    return _sprite(str(path), path.stat().st_mtime_ns)


@dataclass(frozen=True)
class ImageMatch:
    """Where an asset image best matches a frame, how well (0..1) and at what scale."""

    score: float
    box: Box
    scale: float


class _Frame:
    """A still and its reductions (each made once), in colour and grey."""

    def __init__(self, rgb: U8Array, cv2: ModuleType) -> None:
        self.rgb = rgb
        self.cv2 = cv2
        self.height, self.width = rgb.shape[:2]
        self._cache: dict[float, tuple[U8Array, U8Array]] = {}

    def at(self, f: float) -> tuple[U8Array, U8Array]:
        f = round(min(1.0, f), 4)
        if f not in self._cache:
            color = self.rgb
            if f < 1.0:
                size = (max(1, round(self.width * f)), max(1, round(self.height * f)))
                color = self.cv2.resize(color, size, interpolation=self.cv2.INTER_AREA)
            self._cache[f] = (color, self.cv2.cvtColor(color, self.cv2.COLOR_RGB2GRAY))
        return self._cache[f]


def _resized(cv2: ModuleType, img: npt.NDArray[Any], w: int, h: int) -> npt.NDArray[Any]:
    return cast(npt.NDArray[Any], cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA))


def _correlate(
    cv2: ModuleType, gray: U8Array, sp: Sprite, w: int, h: int
) -> tuple[float, tuple[int, int], U8Array] | None:
    """Best masked correlation of the ``w`` x ``h`` grey template in ``gray``: (value,
    top-left, mask); None where the template does not fit or is too small to mean much."""
    if w < 6 or h < 6 or w > gray.shape[1] or h > gray.shape[0]:
        return None
    mask = (_resized(cv2, sp.alpha, w, h) >= 224).astype(np.uint8)
    if int(mask.sum()) < 24:
        return None
    tpl = _resized(cv2, sp.gray, w, h)
    cc = cv2.matchTemplate(gray, tpl, cv2.TM_CCOEFF_NORMED, mask=mask)
    cc = np.nan_to_num(cc, nan=0.0, posinf=0.0, neginf=0.0)
    _, value, _, loc = cv2.minMaxLoc(cc)
    return float(value), (int(loc[0]), int(loc[1])), mask


def _color_agreement(patch: U8Array, tpl: U8Array, mask: U8Array) -> float:
    """1 for the asset's own colours under its mask, 0 at :data:`COLOR_TOLERANCE` RMS off."""
    n = int(mask.sum())
    if n == 0:
        return 0.0
    diff = patch.astype(np.float32) - tpl.astype(np.float32)
    sq = np.einsum("ijk,ijk->ij", diff, diff)
    rms = math.sqrt(float(np.dot(sq.ravel(), mask.ravel())) / (3 * n))
    return max(0.0, 1.0 - rms / COLOR_TOLERANCE)


def _refine(
    frame: _Frame, sp: Sprite, f: float, k: float, center: tuple[float, float]
) -> ImageMatch | None:
    """The match at scale ``k`` near ``center`` (frame px), at reduction ``f``.

    The shape is placed by grey correlation; colour is then compared at that place only
    (a full colour search costs several times more and peaks at the same spot).
    """
    cv2 = frame.cv2
    color, gray = frame.at(f)
    tw, th = sp.size
    w, h = round(tw * k * f), round(th * k * f)
    if w > gray.shape[1] or h > gray.shape[0]:
        return None
    pad = max(4, round(0.1 * max(w, h)))
    cx, cy = center[0] * f, center[1] * f
    x0 = int(min(max(0, round(cx - w / 2) - pad), gray.shape[1] - w))
    y0 = int(min(max(0, round(cy - h / 2) - pad), gray.shape[0] - h))
    x1, y1 = min(gray.shape[1], x0 + w + 2 * pad), min(gray.shape[0], y0 + h + 2 * pad)
    hit = _correlate(cv2, gray[y0:y1, x0:x1], sp, w, h)
    if hit is None:
        return None
    cc, (x, y), mask = hit
    x, y = x0 + x, y0 + y
    patch = color[y : y + h, x : x + w]
    score = max(0.0, cc) * _color_agreement(patch, _resized(cv2, sp.rgb, w, h), mask)
    box = Box(x=round(x / f), y=round(y / f), w=round(tw * k), h=round(th * k))
    return ImageMatch(score, box, k)


def _climb(
    frame: _Frame,
    sp: Sprite,
    f: float,
    start: ImageMatch,
    span: float,
    precision: float,
) -> ImageMatch:
    """Refine a match by bisecting its scale within ``span`` (a factor) either way, down
    to ``precision`` (relative)."""
    best = start
    d = math.log(span) / 2
    while d > precision:
        for e in (-d, d):
            c = (best.box.x + best.box.w / 2, best.box.y + best.box.h / 2)
            hit = _refine(frame, sp, f, best.scale * math.exp(e), c)
            if hit is not None and hit.score > best.score:
                best = hit
        d /= 2
    return best


def find_image(
    frame: _Frame,
    sp: Sprite,
    scales: Sequence[float],
    coarse: float,
    *,
    step: float = SCALE_STEP,
    candidates: int = 10,
    prior: float | None = None,
    precision: float = 0.004,
) -> ImageMatch:
    """Search the whole frame for ``sp`` at ``scales`` (frame px per asset px, ``step``
    apart).

    The coarse pass correlates the grey, masked template at reduction ``coarse``; the
    ``candidates`` best places (one per area) are refined at twice that size, their scale
    narrowed down between the coarse ones to ``precision`` (relative). Fine detail (a
    wordmark's letters) only correlates within a percent or two of the drawn size, a peak
    the coarse pass can miss: so the best place at the ``prior`` scale (one of ``scales``,
    the size the layout draws the image at) is always refined too.
    """
    _, gray = frame.at(coarse)
    tw, th = sp.size
    ordered = sorted(scales)
    found: list[tuple[float, float, tuple[float, float]]] = []
    for k in ordered:
        w, h = round(tw * k * coarse), round(th * k * coarse)
        hit = _correlate(frame.cv2, gray, sp, w, h)
        if hit is not None:
            value, (x, y), _ = hit
            found.append((value, k, ((x + w / 2) / coarse, (y + h / 2) / coarse)))
    picked = [c for c in found if prior is not None and math.isclose(c[1], prior)][:1]
    limit = candidates + len(picked)
    found.sort(key=lambda c: -c[0])
    for value, k, (cx, cy) in found:
        # The same place at about the same size is one candidate; a small detail inside a
        # large match (a label on the bottle) is another.
        if len(picked) >= limit:
            break
        if all(
            math.hypot(cx - px, cy - py) > 0.5 * max(tw, th) * min(k, pk)
            or max(k, pk) / min(k, pk) > step * step
            for _, pk, (px, py) in picked
        ):
            picked.append((value, k, (cx, cy)))
    best = ImageMatch(0.0, Box(x=0, y=0, w=0, h=0), ordered[0])
    fine = min(1.0, 2 * coarse)
    for _, k, center in picked:
        start = _refine(frame, sp, fine, k, center)
        if start is None:
            continue
        refined = _climb(frame, sp, fine, start, step, precision)
        if refined.score > best.score:
            best = refined
        if best.score >= SURE:  # nothing else in the frame can be the asset more clearly
            break
    return best


def geometric(lo: float, hi: float, step: float, anchor: float | None = None) -> list[float]:
    """Scales from ``lo`` to ``hi`` a factor ``step`` apart, through ``anchor`` if given."""
    start = anchor if anchor is not None else lo
    first = math.ceil(math.log(lo / start, step) - 1e-9)
    last = math.floor(math.log(hi / start, step) + 1e-9)
    return [start * step**i for i in range(first, last + 1)] or [lo]


def product_scales(sp: Sprite, width: int, height: int) -> list[float]:
    """Scales a product shot may appear at: from a small slot to the whole frame."""
    tw, th = sp.size
    lo = PRODUCT_MIN_SIZE * min(width, height) / max(tw, th)
    hi = min(width / tw, height / th)
    return geometric(lo, max(lo, hi), SCALE_STEP)


def logo_scale(sp: Sprite, width: int, height: int) -> float:
    """The scale the template layout draws the logo at (fitted into :data:`LOGO_BOX`)."""
    tw, th = sp.size
    return min(LOGO_BOX[0] * width / tw, LOGO_BOX[1] * min(width, height) / th)


# --------------------------------------------------------------------------- shared state


@dataclass(frozen=True)
class Still:
    """One scene's still: where it is in the video and the search state over its pixels."""

    scene: int
    time: float
    frame_no: int
    frame: _Frame


def _stills(ctx: CheckContext, check_name: str) -> list[Still]:
    cv2 = _cv2(check_name)

    def make() -> list[Still]:
        return [Still(i, t, ctx.frame_at(t), _Frame(rgb, cv2)) for i, t, rgb in ctx.stills()]

    return _memo(ctx.scan, ("stills", tuple(ctx.still_times.items())), make)


def _asset_path(ctx: CheckContext, asset: Asset) -> Path:
    return ctx.campaign.asset_path(asset)


def _match(
    ctx: CheckContext, still: Still, asset: Asset, opts: AlignmentOptions, logo: bool
) -> ImageMatch:
    """The best match of ``asset`` in ``still`` (memoized per video, asset and settings).

    A logo is an overlay that stays put: once found in one still, the other stills are
    first tried at the same place and size, which costs a few correlations instead of a
    search.
    """
    sp = sprite(_asset_path(ctx, asset))
    f = still.frame
    settings = (opts.coarse_side, opts.logo_px)
    hint_key = ("logo-at", sp.key, settings)

    def search() -> ImageMatch:
        if not logo:
            coarse = min(1.0, opts.coarse_side / max(f.width, f.height))
            return find_image(f, sp, product_scales(sp, f.width, f.height), coarse)
        k0 = logo_scale(sp, f.width, f.height)
        coarse = min(1.0, opts.logo_px / max(1.0, sp.size[1] * k0))
        hint: ImageMatch | None = _slot(ctx.scan).get(hint_key)
        if hint is not None:
            center = (hint.box.x + hint.box.w / 2, hint.box.y + hint.box.h / 2)
            there = _refine(f, sp, min(1.0, 2 * coarse), hint.scale, center)
            if there is not None and there.score >= hint.score - 0.05:
                return there
        scales = geometric(0.6 * k0, 1.6 * k0, SCALE_STEP, anchor=k0)
        hit = find_image(f, sp, scales, coarse, prior=k0)
        if hit.score >= opts.min_logo_score:
            _slot(ctx.scan).setdefault(hint_key, hit)
        return hit

    return _memo(ctx.scan, ("match", still.time, sp.key, logo, settings), search)


def _rivals(ctx: CheckContext, kind: str, own: Sequence[Asset]) -> list[tuple[Product, Asset]]:
    """Assets of ``kind`` of the campaign's other products, one per distinct image file."""
    mine = {_asset_path(ctx, a).resolve() for a in own}
    seen: set[Path] = set()
    out = []
    for product in ctx.campaign.products:
        if ctx.product is not None and product.id == ctx.product.id:
            continue
        for asset in product.assets_of(kind):
            path = _asset_path(ctx, asset).resolve()
            if path in mine or path in seen or not path.is_file():
                continue
            seen.add(path)
            out.append((product, asset))
    return out


def _outmatched(
    ctx: CheckContext,
    still: Still,
    rivals: Sequence[tuple[Product, Asset]],
    opts: AlignmentOptions,
    planned: ImageMatch,
    floor: float,
    logo: bool,
) -> tuple[Product, Asset, ImageMatch] | None:
    """The other product's asset shown instead of the planned one, if one clearly is.

    It must match well on its own (``floor``) and beat the planned asset by the
    configured margin, so a weak planned match is not blamed on a lookalike.
    """
    best: tuple[Product, Asset, ImageMatch] | None = None
    for product, asset in rivals:
        hit = _match(ctx, still, asset, opts, logo)
        if best is None or hit.score > best[2].score:
            best = (product, asset, hit)
    if best is None or best[2].score < floor or best[2].score < planned.score + opts.wrong_margin:
        return None
    return best


def _ocr(
    ctx: CheckContext, still: Still, opts: AlignmentOptions, skip: Sequence[Box]
) -> list[OcrLine]:
    """Lines read in the still with the ``skip`` regions blanked out first.

    The label and the logo are on every frame; painting them over spares recognizing
    them, about a third of the recognizer's work on a typical still.
    """

    def read() -> list[OcrLine]:
        rgb = still.frame.rgb.copy()
        for b in skip:
            region = rgb[max(0, b.y) : b.y + b.h, max(0, b.x) : b.x + b.w]
            if region.size:
                region[:] = np.median(region.reshape(-1, 3), axis=0).astype(np.uint8)
        return read_text(rgb, max_side=opts.ocr_max_side)

    key = ("ocr", still.time, opts.ocr_max_side, tuple((b.x, b.y, b.w, b.h) for b in skip))
    return [line for line in _memo(ctx.scan, key, read) if line.score >= opts.ocr_min_score]


@lru_cache(maxsize=64)
def _printed(path: str, mtime_ns: int, max_side: int) -> tuple[str, ...]:
    """Text printed on an asset image (a label on a bottle), read once per file."""
    img = trim(load_image(Path(path), "asset"))
    grey = Image.new("RGBA", img.size, (128, 128, 128, 255))
    grey.alpha_composite(img)
    rgb = np.asarray(grey.convert("RGB"))
    return tuple(line.text for line in read_text(rgb, max_side=max_side))


def _asset_texts(ctx: CheckContext, opts: AlignmentOptions) -> list[str]:
    """Text on the product's own pictures: part of an approved asset, not drawn copy."""
    out: list[str] = []
    for asset in ctx.product.assets if ctx.product is not None else []:
        path = _asset_path(ctx, asset)
        if asset.kind in ("product_image", "logo") and path.is_file():
            out += _printed(str(path), path.stat().st_mtime_ns, opts.ocr_max_side)
    return out


def _inside(inner: Box, outer: Box, share: float = 0.5) -> bool:
    """Whether at least ``share`` of ``inner``'s area lies in ``outer``."""
    w = min(inner.x + inner.w, outer.x + outer.w) - max(inner.x, outer.x)
    h = min(inner.y + inner.h, outer.y + outer.h) - max(inner.y, outer.y)
    area = inner.w * inner.h
    return w > 0 and h > 0 and area > 0 and w * h >= share * area


def _grow(box: Box, px: int) -> Box:
    return Box(x=box.x - px, y=box.y - px, w=box.w + 2 * px, h=box.h + 2 * px)


def _planned_logo(ctx: CheckContext) -> Asset | None:
    """The logo the frames should show: the plan's, or the product's own where the plan
    names another asset (a wrong choice is reported on its own); None without a logo."""
    if ctx.product is None or ctx.plan.logo_asset is None:
        return None
    own = ctx.product.assets_of("logo")
    for asset in own:
        if asset.id == ctx.plan.logo_asset:
            return asset
    return own[0] if own else None


def _lines(ctx: CheckContext, still: Still, opts: AlignmentOptions) -> list[OcrLine]:
    """The still's read lines that are copy: not the label, not the logo, not noise."""
    skip = [_grow(ctx.creative.disclosure_box, 4)]
    logo = _planned_logo(ctx)
    if logo is not None and _asset_path(ctx, logo).is_file():
        hit = _match(ctx, still, logo, opts, logo=True)
        if hit.score >= opts.min_logo_score:
            skip.append(_grow(hit.box, 4))
    return [
        line
        for line in _ocr(ctx, still, opts, skip)
        if sum(c.isalnum() for c in line.text) >= opts.min_text_chars
        and not any(_inside(line.box, region) for region in skip)
    ]


# --------------------------------------------------------------------------- ocr_text


@dataclass(frozen=True)
class _Expected:
    """A string that should be legible in a still, and where it was drawn if recorded."""

    text: str
    where: str
    box: Box | None


def _approved(ctx: CheckContext) -> list[str]:
    """Every string that may legitimately be drawn for the product."""
    out = [g.text for _, _, g in ctx.plan.texts()]
    out.append(ctx.campaign.policy.disclosure_text)
    product = ctx.product
    if product is not None:
        out += [product.brand, product.name]
        out += [c.text for c in product.verified_claims]
        for line in product.approved_copy:
            names = slot_names(line.text)
            if not names:
                out.append(line.text)
            for value in ctx.slot_values:
                out.append(fill(line.text, dict.fromkeys(names, value)))
    return list(dict.fromkeys(out))


def _expected(ctx: CheckContext, scene: int, t: float, approved: set[str]) -> list[_Expected]:
    """What the plan and the creative's record say is on screen in ``scene`` at ``t``
    (recorded strings only when ``approved``, normalized: the rest is unplanned text)."""
    plan = ctx.plan
    out: list[_Expected] = []
    for r in ctx.creative.rendered_text:
        if r.start_s <= t <= r.end_s and normalize(r.text) in approved:
            where = f"scene {scene} {r.field}" if r.field != "cta" else "cta"
            out.append(_Expected(r.text, where, r.box))
    shown = plan.scenes[scene].on_screen_text
    if shown is not None:
        out.append(_Expected(shown.text, f"scene {scene} on_screen_text", None))
    if scene == plan.scenes[-1].index and not any(
        r.field == "cta" for r in ctx.creative.rendered_text
    ):
        out.append(_Expected(plan.cta.text.text, "cta", None))
    unique: dict[str, _Expected] = {}
    for e in out:
        unique.setdefault(normalize(e.text), e)
    return list(unique.values())


@check("ocr_text", "compliance", needs_video=True)
def ocr_text(ctx: CheckContext) -> Outcome:
    """Text read in each scene's pixels is planned or approved; planned text is legible."""
    opts = ctx.options(SECTION, AlignmentOptions)
    approved = _approved(ctx)
    normalized = {normalize(a) for a in approved}
    printed: list[str] | None = None  # read from the assets only when something is left over
    problems: list[Problem] = []
    read = unplanned = 0
    expected_total = 0
    for still in _stills(ctx, "ocr_text"):
        scene = ctx.plan.scenes[still.scene]
        lines = _lines(ctx, still, opts)
        read += len(lines)
        for line in lines:
            if any(text_matches(line.text, a, opts.text_match) for a in approved):
                continue
            if printed is None:
                printed = _asset_texts(ctx, opts)
            if any(text_matches(line.text, a, opts.text_match) for a in printed):
                continue
            unplanned += 1
            problems.append(
                Problem(
                    "critical",
                    f"scene {still.scene}: text drawn in the frame is not in the plan: "
                    f"{line.text!r}",
                    still.scene,
                    scene.start_s,
                    scene.end_s,
                    text=line.text,
                    frame=still.frame_no,
                    box=line.box,
                )
            )
        texts = [line.text for line in lines]
        for e in _expected(ctx, still.scene, still.time, normalized):
            expected_total += 1
            share = readable_share(e.text, texts)
            if share < opts.readable_share:
                problems.append(
                    Problem(
                        "minor",
                        f"{e.where}: planned text could not be read in the frame "
                        f"({share:.0%} of its words found)",
                        still.scene,
                        scene.start_s,
                        scene.end_s,
                        text=e.text,
                        frame=still.frame_no,
                        box=e.box,
                    )
                )
    failing = len(problems)
    score = 1.0 - failing / max(1, read + expected_total)
    if unplanned:
        score = min(score, 0.5)
    msg = "; ".join(p.message for p in problems) or (
        f"{read} lines read in {len(ctx.still_times)} scenes, all planned or approved; "
        f"{expected_total} planned strings legible"
    )
    return Outcome(score, msg, problems)


# --------------------------------------------------------------------------- brand_spelling


@check("brand_spelling", "compliance")
def brand_spelling(ctx: CheckContext) -> Outcome:
    """Brand and product name are spelled exactly in the plan, the record and the pixels.

    A misspelling the plan carries is usually read back from the frame too; it is then
    reported once, with the frame's box attached.
    """
    product = ctx.product
    if product is None:
        return Outcome(1.0, "no product to take the brand from")
    opts = ctx.options(SECTION, AlignmentOptions)
    names = name_words(product)
    exempt = [*ctx.slot_values, *(v for _, _, g in ctx.plan.texts() for v in g.slots.values())]
    found: dict[tuple[int | None, str], Problem] = {}
    checked = 0

    def scan(where: str, text: str, problem: Problem) -> None:
        nonlocal checked
        checked += 1
        read = problem.frame is not None
        for wrong, name in misspellings(
            text, names, max_edits=opts.max_brand_edits, exempt=exempt, read=read
        ):
            key = (problem.scene_index, wrong.casefold())
            known = found.get(key)
            if known is None:
                message = f"{where}: {wrong!r} misspells {_spelled(name, product)!r}"
                found[key] = replace(problem, message=message)
            elif read and known.box is None:
                found[key] = replace(known, frame=problem.frame, box=problem.box)

    for s, f, g in ctx.plan.texts():
        a, b = ctx.text_span(s, f)
        scan(
            f"scene {s} {f}" if s is not None else f, g.text, Problem("major", "", s, a, b, g.text)
        )
    for r in ctx.drawn_copy:
        scan(f"drawn {r.field}", r.text, replace(Problem.drawn("major", "", r), box=r.box))
    if ctx.video is not None:
        for still in _stills(ctx, "brand_spelling"):
            sc = ctx.plan.scenes[still.scene]
            for line in _lines(ctx, still, opts):
                where = f"scene {still.scene} frame {still.frame_no}"
                problem = Problem(
                    "major",
                    "",
                    still.scene,
                    sc.start_s,
                    sc.end_s,
                    line.text,
                    still.frame_no,
                    line.box,
                )
                scan(where, line.text, problem)
    problems = list(found.values())
    spelled = ", ".join(repr(_spelled(n, product)) for n in names)
    msg = "; ".join(p.message for p in problems) or (
        f"{spelled} spelled exactly in {checked} strings" if names else "no brand words to check"
    )
    return Outcome(1.0 - len(problems) / max(1, checked), msg, problems)


# --------------------------------------------------------------------------- product_visible


def _product_assets(ctx: CheckContext) -> tuple[list[tuple[int, Asset]], list[Problem]]:
    """(scene index, product image) pairs the plan shows, and asset ids the product lacks."""
    product = ctx.product
    pairs: list[tuple[int, Asset]] = []
    problems: list[Problem] = []
    if product is None:
        return pairs, problems
    for scene in ctx.plan.scenes:
        for i, aid in enumerate(scene.asset_ids):
            try:
                asset = product.asset(aid)
            except KeyError:
                problems.append(
                    Problem(
                        "major",
                        f"scene {scene.index} asset_ids.{i}: product {product.id!r} has no "
                        f"asset {aid!r}",
                        scene.index,
                        scene.start_s,
                        scene.end_s,
                    )
                )
                continue
            if asset.kind == "product_image":
                pairs.append((scene.index, asset))
    return pairs, problems


@check("product_visible", "utility", needs_video=True)
def product_visible(ctx: CheckContext) -> Outcome:
    """Each scene's planned product image is visible in its still, and no other product's."""
    opts = ctx.options(SECTION, AlignmentOptions)
    pairs, problems = _product_assets(ctx)
    if not pairs:
        msg = "; ".join(p.message for p in problems) or "no scene shows a product image"
        return Outcome(1.0 if not problems else 0.5, msg, problems)
    stills = {s.scene: s for s in _stills(ctx, "product_visible")}
    own = ctx.product.assets_of("product_image") if ctx.product else []
    rivals = _rivals(ctx, "product_image", own)
    found = 0
    for index, asset in pairs:
        still = stills.get(index)
        scene = ctx.plan.scenes[index]
        if still is None:
            continue
        hit = _match(ctx, still, asset, opts, logo=False)
        where = f"scene {index} {asset.id}"
        if hit.score >= opts.min_product_score:
            found += 1
            problems.append(
                Problem(
                    "info",
                    f"{where}: product image found (score {hit.score:.2f})",
                    index,
                    scene.start_s,
                    scene.end_s,
                    frame=still.frame_no,
                    box=hit.box,
                )
            )
            continue
        rival = _outmatched(ctx, still, rivals, opts, hit, opts.min_product_score, logo=False)
        if rival is not None:
            other, other_asset, other_hit = rival
            problems.append(
                Problem(
                    "critical",
                    f"{where}: wrong product shown: {other_asset.id!r} of {other.id!r} "
                    f"(score {other_hit.score:.2f}, planned image {hit.score:.2f})",
                    index,
                    scene.start_s,
                    scene.end_s,
                    frame=still.frame_no,
                    box=other_hit.box,
                )
            )
            continue
        problems.append(
            Problem(
                "major",
                f"{where}: product image not visible (best score {hit.score:.2f}, "
                f"needs {opts.min_product_score:.2f})",
                index,
                scene.start_s,
                scene.end_s,
                frame=still.frame_no,
                box=hit.box if hit.box.w else None,
            )
        )
    failing = [p for p in problems if p.severity != "info"]
    msg = "; ".join(p.message for p in failing) or (
        f"product image found in {found} of {len(pairs)} planned places"
    )
    return Outcome(found / len(pairs), msg, problems)


# --------------------------------------------------------------------------- logo_visible


def _logo_plan_problem(ctx: CheckContext) -> Problem | None:
    """What is wrong with the plan's choice of logo, if anything."""
    product = ctx.product
    aid = ctx.plan.logo_asset
    if product is None:
        return None
    own = product.assets_of("logo")
    if aid is None:
        if own:
            return Problem("major", f"plan shows no logo; product has {own[0].id!r}")
        return None
    if any(a.id == aid for a in own):
        return None
    try:
        asset = product.asset(aid)
    except KeyError:
        pass
    else:
        return Problem("critical", f"logo_asset {aid!r} is a {asset.kind}, not a logo")
    for other in ctx.campaign.products:
        if any(a.id == aid for a in other.assets):
            return Problem(
                "critical",
                f"logo_asset {aid!r} belongs to {other.id!r} ({other.brand}), "
                f"not {product.id!r} ({product.brand})",
            )
    return Problem("critical", f"logo_asset {aid!r} is no asset of the campaign")


@check("logo_visible", "compliance", needs_video=True)
def logo_visible(ctx: CheckContext) -> Outcome:
    """The plan's logo is the product's own, and it is visible in every scene."""
    opts = ctx.options(SECTION, AlignmentOptions)
    problems: list[Problem] = []
    wrong = _logo_plan_problem(ctx)
    if wrong is not None:
        problems.append(wrong)
    logo = _planned_logo(ctx)
    if logo is None:
        msg = "; ".join(p.message for p in problems) or "the product has no logo to show"
        return Outcome(0.0 if problems else 1.0, msg, problems)
    stills = _stills(ctx, "logo_visible")
    rivals = _rivals(ctx, "logo", ctx.product.assets_of("logo") if ctx.product else [])
    found = 0
    for still in stills:
        scene = ctx.plan.scenes[still.scene]
        hit = _match(ctx, still, logo, opts, logo=True)
        if hit.score >= opts.min_logo_score:
            found += 1
            continue
        rival = _outmatched(ctx, still, rivals, opts, hit, opts.min_logo_score, logo=True)
        if rival is not None:
            other, other_asset, other_hit = rival
            problems.append(
                Problem(
                    "critical",
                    f"scene {still.scene}: wrong logo shown: {other_asset.id!r} of "
                    f"{other.id!r} ({other.brand}), score {other_hit.score:.2f}",
                    still.scene,
                    scene.start_s,
                    scene.end_s,
                    frame=still.frame_no,
                    box=other_hit.box,
                )
            )
            continue
        problems.append(
            Problem(
                "major",
                f"scene {still.scene}: logo {logo.id!r} not visible (best score "
                f"{hit.score:.2f}, needs {opts.min_logo_score:.2f})",
                still.scene,
                scene.start_s,
                scene.end_s,
                frame=still.frame_no,
                box=hit.box if hit.box.w else None,
            )
        )
    score = found / max(1, len(stills))
    if wrong is not None:
        score = min(score, 0.5 if wrong.severity == "major" else 0.0)
    msg = "; ".join(p.message for p in problems) or (
        f"logo {logo.id!r} found in {found} of {len(stills)} scenes"
    )
    return Outcome(score, msg, problems)


#: The product alignment checks, in report order.
CHECKS: tuple[Check, ...] = (ocr_text, brand_spelling, product_visible, logo_visible)
