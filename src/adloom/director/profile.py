"""User modeling: a structured profile from interaction history, with consent first.

Without personalization consent the history is not read at all. Otherwise each history
item is embedded once; items are grouped into topical interests by average-linkage
clustering (k chosen by silhouette), and each interest is named from the user's own
words (tags first, then frequent title words) so that what the ad says back to the user
is vocabulary they already used. Before any of that, the history is screened with
:mod:`adloom.lexicons`: an item carrying an instruction for a model is dropped whole,
sensitive-trait words are cut out, and each removal is recorded in ``UserProfile.flags``,
so nothing a creative must never say can become an interest, a keyword or the summary.
Style, needs and decision tendencies are similarities to short prototype descriptions,
calibrated with the embedder's anchors. Visual cues come from the pixels of the user's
history images. Every step is deterministic.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from adloom.director.embeddings import Embedder, Vectors
from adloom.domain import HistoryItem, InputFlag, Interest, Trait, User, UserProfile, VisualCues
from adloom.lexicons import STRIPPABLE, Hit, injection_hits, is_clean_label, sensitive_hits

NO_CONSENT = "no personalization consent"
NO_HISTORY = "no interaction history"
NO_USABLE_HISTORY = "no usable interaction history"

# --------------------------------------------------------------------------- prototypes

#: Presentation styles, each described by a few short prototype sentences.
STYLES: dict[str, tuple[str, ...]] = {
    "humorous": ("funny jokes and memes", "a hilarious comedy sketch", "lighthearted pranks"),
    "informative": (
        "a detailed how-to guide",
        "product reviews and comparisons",
        "tips and tutorials explained step by step",
    ),
    "aesthetic": (
        "beautiful photography and design",
        "stylish minimal aesthetic",
        "art, colours and visual inspiration",
    ),
    "energetic": (
        "high-energy action and extreme sports",
        "fast-paced workout hype",
        "adrenaline, speed and excitement",
    ),
    "calm": ("slow relaxing mindful moments", "peaceful nature at sunrise", "cozy quiet routines"),
    "inspirational": (
        "a motivational personal journey",
        "overcoming challenges to reach a goal",
        "inspiring adventure stories",
    ),
}

#: The tone a plan takes when a style dominates.
TONE_OF_STYLE: dict[str, str] = {
    "humorous": "playful",
    "informative": "informative",
    "aesthetic": "refined",
    "energetic": "energetic",
    "calm": "calm",
    "inspirational": "uplifting",
}

IMPLICIT_NEEDS: dict[str, tuple[str, ...]] = {
    "quality-of-life": ("making everyday life more comfortable", "better home and daily routines"),
    "self-expression": ("personal style and fashion", "showing my identity and creativity"),
    "convenience": ("quick and easy solutions that save time", "hassle-free and practical"),
    "health": ("fitness, exercise and healthy eating", "wellbeing, sleep and mental health"),
    "adventure": ("exploring the outdoors and travel", "hiking, camping and new experiences"),
    "social connection": ("time with friends and family", "community, parties and sharing"),
    "learning": ("learning new skills", "understanding how things work"),
}

DECISION_TENDENCIES: dict[str, tuple[str, ...]] = {
    "price-sensitive": (
        "budget deals and discounts",
        "cheap affordable bargains, best value for money",
        "sales, coupons and price comparison",
    ),
    "quality-oriented": (
        "premium quality that lasts",
        "durable, well-made, tested products",
        "expert reviews of the best gear",
    ),
    "eco-conscious": (
        "sustainable eco-friendly products",
        "recycled materials and a low carbon footprint",
        "zero waste and ethical brands",
    ),
    "brand-loyal": ("my favourite brand's new release", "official brand store and membership"),
    "impulse": (
        "limited-time drop, buy it now",
        "trending must-have haul",
        "unboxing a spontaneous purchase",
    ),
}

# --------------------------------------------------------------------------- vocabulary

_WORD = re.compile(r"\w+")
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Function words and filler that never make a good interest label.
STOPWORDS = _wordset(
    """a about above after again all also am an and any are as at be because been before
    being best between both but by can could did do does doing down during each few for
    from further get got had has have having he her here hers him his how i if in into is
    it its just me more most my new no nor not now of off on once only or other our ours
    out over own same she should so some such than that the their theirs them then there
    these they this those through to too top under until up very vs was we were what when
    where which while who whom why will with would you your yours year years day days
    week weeks guide tips review reviews ways thing things one two three four five first
    de la le les des et en el los las del un une y o il di che der die das und ein eine
    и в во не на с со что как по для это из к у о от за до
    في من إلى الى على عن مع هذا هذه ما لا أن
    """
)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def terms(text: str) -> list[str]:
    """Candidate words: Unicode word runs, with CJK runs (no spaces) cut into bigrams."""
    out: list[str] = []
    for word in _WORD.findall(_fold(text)):
        if word.isdigit() or word in STOPWORDS:
            continue
        if _CJK_RUN.fullmatch(word):
            if len(word) <= 4:
                out.append(word)
            if len(word) > 2:
                out.extend(word[i : i + 2] for i in range(len(word) - 1))
            continue
        for run in _CJK_RUN.findall(word):  # mixed runs such as "iphone手机"
            out.append(run)
        latin = _CJK_RUN.sub(" ", word).split()
        out.extend(w for w in latin if len(w) >= 3 and w not in STOPWORDS)
    return out


#: Words about how or why someone shops or watches rather than what about: they describe
#: style or decision tendencies (profiled separately) and make poor topic labels.
NON_TOPICAL = _wordset(
    """aesthetic aesthetics budget cheap deal deals discount discounts sale sales bargain
    bargains haul funny fun review reviews howto how-to tutorial tutorials unboxing vlog
    daily routine routines favourite favourites favorite favorites trending viral beginners
    beginner tips hacks ideas inspo inspiration challenge"""
)


def _non_topical(term: str) -> bool:
    words = term.split()
    return bool(words) and all(w in NON_TOPICAL for w in words)


def _is_cjk_bigram(word: str) -> bool:
    return len(word) == 2 and _CJK_RUN.fullmatch(word) is not None


def _tag(tag: str) -> str:
    return " ".join(_fold(tag).lstrip("#").replace("_", " ").split())


def item_text(item: HistoryItem) -> str:
    """What is embedded for a history item: title, text and tags."""
    parts = [item.title.strip(), item.text.strip()]
    if item.tags:
        parts.append(", ".join(_tag(t) for t in item.tags))
    return ". ".join(p for p in parts if p)


# --------------------------------------------------------------------------- screening

#: Longest excerpt kept in an :class:`InputFlag`.
FLAG_CHARS = 60


def _flag(i: int, name: str, kind: Literal["injection", "sensitive"], hit: Hit) -> InputFlag:
    text = " ".join(hit.term.split())
    if len(text) > FLAG_CHARS:
        text = text[: FLAG_CHARS - 1] + "…"
    return InputFlag(source=f"history[{i}].{name}", kind=kind, category=hit.category, text=text)


def _compound(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` widened to the hyphenated compound around it ("debt-free")."""
    while end < len(text) - 1 and text[end] == "-" and text[end + 1].isalnum():
        end += 1
        while end < len(text) and (text[end].isalnum() or text[end] == "'"):
            end += 1
    while start > 1 and text[start - 1] == "-" and text[start - 2].isalnum():
        start -= 1
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "'"):
            start -= 1
    return start, end


def _without(text: str, hits: Sequence[Hit]) -> str:
    """``text`` without the words of ``hits``, whitespace tidied."""
    out, pos = [], 0
    for start, end in sorted(_compound(text, h.start, h.end) for h in hits):
        if start >= pos:
            out.append(text[pos:start])
        pos = max(pos, end)
    out.append(text[pos:])
    return " ".join("".join(out).split())


@dataclass(frozen=True)
class Screened:
    """The history items fit to profile from, their ids, and what was left out."""

    items: list[HistoryItem]
    ids: list[str]
    flags: list[InputFlag]


def screen_history(items: Sequence[HistoryItem], offset: int = 0) -> Screened:
    """Keep instructions and sensitive traits in a user's history out of their profile.

    An item with an instruction for a model is dropped whole: its other words may be part
    of the attack. Sensitive-trait words, invisible characters, spoofed words and links
    are cut out of titles and texts; a tag holding one is dropped. Every removal becomes
    an :class:`InputFlag` sourced ``history[i].field`` (``i`` counts from the start of the
    user's history, ``offset`` being the index of ``items[0]``).
    """
    kept: list[HistoryItem] = []
    ids: list[str] = []
    flags: list[InputFlag] = []
    for k, item in enumerate(items):
        i = offset + k
        fields = [("title", item.title), ("text", item.text)]
        fields += [(f"tags[{j}]", tag) for j, tag in enumerate(item.tags)]
        found = {name: injection_hits(value) for name, value in fields}
        tainted = [
            (name, h) for name, hits in found.items() for h in hits if h.category not in STRIPPABLE
        ]
        if tainted:
            flags += [_flag(i, name, "injection", h) for name, h in tainted]
            continue
        clean: dict[str, str] = {}
        tags: list[str] = []
        for name, value in fields:
            stripped = found[name]
            traits = sensitive_hits(value)
            flags += [_flag(i, name, "injection", h) for h in stripped]
            flags += [_flag(i, name, "sensitive", h) for h in traits]
            if name.startswith("tags["):
                if not stripped and not traits:
                    tags.append(value)
            else:
                clean[name] = _without(value, [*stripped, *traits]) if stripped or traits else value
        if not (clean["title"] or clean["text"] or tags):
            continue
        kept.append(item.model_copy(update={**clean, "tags": tags}))
        ids.append(item.id or f"h{i}")
    return Screened(kept, ids, flags)


# --------------------------------------------------------------------------- language

_SCRIPTS: tuple[tuple[str, str], ...] = (
    ("LATIN", "en"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("CJK", "zh"),
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("GREEK", "el"),
    ("HEBREW", "he"),
    ("DEVANAGARI", "hi"),
    ("THAI", "th"),
)
#: Common words that tell Latin-script languages apart.
_LATIN_HINTS: dict[str, frozenset[str]] = {
    "en": _wordset("the and of to in is for with on my your how best"),
    "es": _wordset("el la los las de que y en para con por mi una"),
    "fr": _wordset("le la les des et est pour avec dans une du mon"),
    "de": _wordset("der die das und ist mit für ein eine auf den von"),
    "it": _wordset("il lo gli della che per con una sono nel di"),
    "pt": _wordset("o os da do das dos que para com uma em não"),
    "nl": _wordset("de het een en van voor met op is niet"),
}


def script_of(char: str) -> str | None:
    """The Unicode script family of a letter (by character name), or None."""
    if not char.isalpha():
        return None
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    for script, _ in _SCRIPTS:
        if name.startswith(script):
            return script
    return "OTHER"


def _script_counts(text: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for ch in text:
        script = script_of(ch)
        if script is not None:
            # One ideograph or kana carries about as much as a short word's letters.
            counts[script] += 3 if script in ("CJK", "HIRAGANA", "KATAKANA") else 1
    return counts


def dominant_script(text: str) -> str | None:
    counts = _script_counts(text)
    return counts.most_common(1)[0][0] if counts else None


def detect_language(texts: Sequence[str], default: str = "en") -> str:
    """ISO 639-1 code from the dominant script; Latin languages by common words."""
    joined = " ".join(texts)
    counts = _script_counts(joined)
    if not counts:
        return default
    kana = counts["HIRAGANA"] + counts["KATAKANA"]
    if kana and kana + counts["CJK"] >= max(counts.values()):
        return "ja"
    script = counts.most_common(1)[0][0]
    if script == "LATIN":
        words = Counter(_WORD.findall(_fold(joined)))
        votes = {lang: sum(words[w] for w in hints) for lang, hints in _LATIN_HINTS.items()}
        best = max(votes, key=lambda k: (votes[k], k == default))
        return best if votes[best] > 0 else (default if default in _LATIN_HINTS else "en")
    if script == "CYRILLIC" and any(ch in joined for ch in "іїєґ"):
        return "uk"
    if script == "ARABIC" and any(ch in joined for ch in "پچژگ"):
        return "fa"
    return dict(_SCRIPTS).get(script, default)


# --------------------------------------------------------------------------- clustering


def _average_linkage(dist: npt.NDArray[np.float64]) -> list[tuple[int, int, float]]:
    """Merges (a, b, height) of UPGMA clustering; cluster ``a`` absorbs ``b``.

    Written out because histories are small (<= a few hundred items) and every cut of
    the tree is needed to pick k, which one pass over the merges gives for free.
    """
    n = dist.shape[0]
    d = dist.astype(np.float64, copy=True)
    np.fill_diagonal(d, np.inf)
    size = np.ones(n)
    alive = np.ones(n, dtype=bool)
    merges: list[tuple[int, int, float]] = []
    for _ in range(n - 1):
        masked = np.where(alive[:, None] & alive[None, :], d, np.inf)
        flat = int(np.argmin(masked))
        a, b = divmod(flat, n)
        a, b = min(a, b), max(a, b)
        height = float(masked[a, b])
        merges.append((a, b, height))
        d[a, :] = (d[a, :] * size[a] + d[b, :] * size[b]) / (size[a] + size[b])
        d[:, a] = d[a, :]
        d[a, a] = np.inf
        size[a] += size[b]
        alive[b] = False
        d[b, :] = np.inf
        d[:, b] = np.inf
    return merges


def _cut(n: int, merges: list[tuple[int, int, float]], k: int) -> npt.NDArray[np.int64]:
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, _ in merges[: n - k]:
        parent[root(b)] = root(a)
    roots = [root(i) for i in range(n)]
    order = {r: j for j, r in enumerate(dict.fromkeys(roots))}
    return np.array([order[r] for r in roots], dtype=np.int64)


def _silhouette(dist: npt.NDArray[np.float64], labels: npt.NDArray[np.int64]) -> float:
    ks = np.unique(labels)
    if not 2 <= len(ks) < len(labels):
        return -1.0
    scores = np.zeros(len(labels))
    for i in range(len(labels)):
        own = labels == labels[i]
        if own.sum() == 1:
            continue  # a singleton scores 0 by convention
        a = dist[i, own].sum() / (own.sum() - 1)
        b = min(dist[i, labels == k].mean() for k in ks if k != labels[i])
        scores[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(scores.mean())


def cluster(vectors: Vectors, max_k: int = 5, merge_below: float = 0.55) -> npt.NDArray[np.int64]:
    """Cluster labels for normalized rows.

    k maximizes the silhouette over 2..min(max_k, n-1); a history whose last merge is
    still closer than ``merge_below`` (cosine distance) is one interest, as are 1-2
    similar items.
    """
    n = vectors.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    dist = np.clip(1.0 - vectors.astype(np.float64) @ vectors.T.astype(np.float64), 0.0, 2.0)
    merges = _average_linkage(dist)
    if merges[-1][2] < merge_below:
        return np.zeros(n, dtype=np.int64)
    if n == 2:
        return np.array([0, 1], dtype=np.int64)
    best_k, best_s = 2, -2.0
    for k in range(2, min(max_k, n - 1) + 1):
        s = _silhouette(dist, _cut(n, merges, k))
        if s > best_s + 1e-9:
            best_k, best_s = k, s
    return _cut(n, merges, best_k)


# --------------------------------------------------------------------------- visual cues


def _hex(rgb: npt.NDArray[np.float64]) -> str:
    r, g, b = (round(min(255.0, max(0.0, float(c)))) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def _kmeans_colors(
    pixels: npt.NDArray[np.float64], k: int, iters: int = 12
) -> list[tuple[npt.NDArray[np.float64], int]]:
    """(centre, size) pairs, biggest first; seeded at luminance quantiles, so deterministic."""
    lum = pixels @ np.array([0.299, 0.587, 0.114])
    order = np.argsort(lum, kind="stable")
    picks = order[np.linspace(0, len(order) - 1, k).round().astype(int)]
    centres = pixels[picks].copy()
    labels = np.zeros(len(pixels), dtype=np.int64)
    for _ in range(iters):
        d = ((pixels[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        labels = np.argmin(d, axis=1)
        for j in range(k):
            members = pixels[labels == j]
            if len(members):
                centres[j] = members.mean(axis=0)
    sizes = np.bincount(labels, minlength=k)
    return sorted(
        ((centres[j], int(sizes[j])) for j in range(k) if sizes[j] > 0),
        key=lambda cs: -cs[1],
    )


@lru_cache(maxsize=512)
def _image_pixels(path: str, mtime: float) -> npt.NDArray[np.float64] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.draft("RGB", (64, 64))
            small = im.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return np.asarray(small, dtype=np.float64).reshape(-1, 3)


def visual_cues(images: Sequence[str], n_colors: int = 5) -> VisualCues:
    """Palette (3-5 colours), brightness and saturation from up to 8 history images."""
    arrays = []
    for path in images[:8]:
        p = Path(path)
        try:
            mtime = p.stat().st_mtime
        except OSError:
            continue
        px = _image_pixels(str(p), mtime)
        if px is not None:
            arrays.append(px)
    if not arrays:
        return VisualCues()
    pixels = np.concatenate(arrays)
    clusters = _kmeans_colors(pixels, min(n_colors + 2, len(pixels)))
    palette: list[npt.NDArray[np.float64]] = []
    for centre, _ in clusters:
        if all(np.linalg.norm(centre - c) > 40 for c in palette):
            palette.append(centre)
        if len(palette) == n_colors:
            break
    while len(palette) < 3:  # a flat image: extend with a lighter and a darker shade
        base = palette[0]
        palette.append(base + (255 - base) * 0.55 if len(palette) == 1 else base * 0.45)
    mx, mn = pixels.max(axis=1), pixels.min(axis=1)
    sat = np.divide(mx - mn, mx, out=np.zeros_like(mx), where=mx > 0)
    return VisualCues(
        palette=[_hex(c) for c in palette],
        brightness=round(float(mx.mean() / 255.0), 3),
        saturation=round(float(sat.mean()), 3),
        source="history_images",
    )


# --------------------------------------------------------------------------- profiling


@dataclass(frozen=True)
class _TraitBank:
    labels: list[str]
    owner: npt.NDArray[np.int64]  # prototype row -> trait index
    vectors: Vectors


class Profiler:
    """Builds ``UserProfile``s with one embedder; prototype vectors are embedded once."""

    def __init__(
        self,
        embedder: Embedder,
        *,
        max_interests: int = 5,
        max_history: int = 200,
    ) -> None:
        self.embedder = embedder
        self.max_interests = max_interests
        self.max_history = max_history
        self._banks: dict[str, _TraitBank] = {}
        self._lock = threading.Lock()

    def _bank(self, name: str, table: dict[str, tuple[str, ...]]) -> _TraitBank:
        with self._lock:
            bank = self._banks.get(name)
            if bank is None:
                labels = list(table)
                texts = [t for label in labels for t in table[label]]
                owner = np.array(
                    [i for i, label in enumerate(labels) for _ in table[label]], dtype=np.int64
                )
                bank = _TraitBank(labels, owner, self.embedder.embed(texts))
                self._banks[name] = bank
            return bank

    def warm_up(self) -> None:
        """Embed the prototype descriptions now rather than on the first profile."""
        self._bank("style", STYLES)
        self._bank("needs", IMPLICIT_NEEDS)
        self._bank("decision", DECISION_TENDENCIES)

    def _traits(self, name: str, table: dict[str, tuple[str, ...]], items: Vectors) -> list[Trait]:
        """Per trait: best prototype sentence per item, then 1/2 mean + 1/2 max over items.

        The max lets one clear item count; the mean keeps a single stray item from
        dominating a long history.
        """
        bank = self._bank(name, table)
        sims = items @ bank.vectors.T  # (items, prototypes)
        per_trait = np.full((items.shape[0], len(bank.labels)), -1.0)
        for j in range(len(bank.labels)):
            per_trait[:, j] = sims[:, bank.owner == j].max(axis=1)
        raw = 0.5 * per_trait.mean(axis=0) + 0.5 * per_trait.max(axis=0)
        scores = self.embedder.to_score(raw)
        traits = [
            Trait(label=label, score=round(float(s), 3))
            for label, s in zip(bank.labels, scores, strict=True)
        ]
        return sorted(traits, key=lambda t: (-t.score, bank.labels.index(t.label)))

    def screened(self, user: User) -> Screened:
        """The user's most recent history, screened (see :func:`screen_history`)."""
        offset = max(0, len(user.history) - self.max_history)
        return screen_history(user.history[offset:], offset)

    def history_texts(self, user: User) -> list[str]:
        """What :meth:`profile` embeds for ``user`` (for batching embeddings ahead)."""
        if not user.consent.personalization:
            return []
        return [item_text(it) for it in self.screened(user).items]

    def profile(self, user: User) -> UserProfile:
        if not user.consent.personalization:
            return _generic(user, NO_CONSENT, "the user has not consented to personalization")
        if not user.history:
            return _generic(user, NO_HISTORY, "the user has no interaction history yet")
        screened = self.screened(user)
        items, ids, flags = screened.items, screened.ids, screened.flags
        if not items:
            why = "nothing in the user's history could be used"
            return _generic(user, NO_USABLE_HISTORY, why, flags)
        texts = [item_text(it) for it in items]
        vectors = self.embedder.embed(texts)
        labels = cluster(vectors, self.max_interests)
        interests = self._interests(items, ids, vectors, labels)

        style = self._traits("style", STYLES, vectors)
        needs = self._traits("needs", IMPLICIT_NEEDS, vectors)
        tendencies = self._traits("decision", DECISION_TENDENCIES, vectors)
        tone = TONE_OF_STYLE[style[0].label] if style[0].score >= 0.2 else "neutral"
        visual = visual_cues([it.image for it in items if it.image])
        language = detect_language(texts, user.demographics.language or "en")
        reason = f"personalization consent and {len(items)} history item(s)"
        if flags:
            reason += f"; {len(flags)} flagged input(s) left out"
        profile = UserProfile(
            user_id=user.id,
            personalizable=True,
            reason=reason,
            interests=interests,
            style=style,
            tone=tone,
            implicit_needs=needs,
            decision_tendencies=tendencies,
            visual=visual,
            language=language,
            flags=flags,
        )
        profile.summary = summarize(profile)
        return profile

    def _interests(
        self,
        items: Sequence[HistoryItem],
        ids: list[str],
        vectors: Vectors,
        labels: npt.NDArray[np.int64],
    ) -> list[Interest]:
        groups = [np.flatnonzero(labels == k) for k in range(int(labels.max()) + 1)]
        # Candidate words per group: tags count double, title words once, body words half.
        candidates: list[dict[str, float]] = []
        tagged = {_tag(t) for it in items for t in it.tags}
        df: Counter[str] = Counter(w for it in items for w in set(terms(f"{it.title} {it.text}")))
        for members in groups:
            counts: dict[str, float] = defaultdict(float)
            for i in members:
                it = items[int(i)]
                for tag in it.tags:
                    t = _tag(tag)
                    if t and not t.isdigit():
                        counts[t] += 2.0
                        if " " in t:  # "gear review" also speaks for "gear"
                            for w in terms(t):
                                counts[w] += 1.0
                for w in terms(it.title):
                    counts[w] += 1.0
                for w in terms(it.text):
                    counts[w] += 0.5
            # A CJK bigram is only a guess at a word; keep it when the user repeats it.
            kept = [
                (w, c)
                for w, c in counts.items()
                if not _is_cjk_bigram(w) or w in tagged or df[w] >= 2
            ]
            top12 = sorted(kept, key=lambda kv: (-kv[1], kv[0]))[:12]
            candidates.append(dict(top12))
        vocab = sorted({w for c in candidates for w in c})
        vocab_vecs = dict(zip(vocab, self.embedder.embed(vocab), strict=True)) if vocab else {}

        interests: list[Interest] = []
        used: set[str] = set()
        order = sorted(range(len(groups)), key=lambda k: (-len(groups[k]), int(groups[k][0])))
        for k in order:
            members = groups[k]
            centre = vectors[members].mean(axis=0)
            norm = float(np.linalg.norm(centre))
            centre = centre / norm if norm > 0 else centre
            counts = candidates[k]
            if not counts:
                continue
            top = max(counts.values())
            ranked = sorted(
                counts,
                key=lambda w: (
                    -(
                        0.5 * counts[w] / top
                        + 0.5 * float(self.embedder.to_score(float(vocab_vecs[w] @ centre)))
                        + (0.15 if w in tagged else 0.0)
                        - (0.3 if _non_topical(w) else 0.0)
                    ),
                    w,
                ),
            )
            # A label is said back to the user: no trait, instruction or claim survives.
            ranked = [w for w in ranked if is_clean_label(w)]
            free = [w for w in ranked if w not in used]
            if not free and len(ranked) >= 2 and is_clean_label(f"{ranked[0]} {ranked[1]}"):
                free = [f"{ranked[0]} {ranked[1]}"]
            if not free or free[0] in used:
                continue
            label = free[0]
            used.add(label)
            weight = round(len(members) / len(items), 3)
            interests.append(
                Interest(
                    label=label,
                    weight=weight,
                    tier="strong" if weight >= 0.4 else "medium" if weight >= 0.2 else "weak",
                    keywords=[w for w in ranked if w != label][:5],
                    item_ids=[ids[i] for i in members],
                )
            )
        interests.sort(key=lambda it: (-it.weight, it.label))
        return interests[: self.max_interests]


def _names(traits: Sequence[Trait], floor: float = 0.25, n: int = 2) -> list[str]:
    return [t.label for t in traits[:n] if t.score >= floor]


def _colour_words(visual: VisualCues) -> str:
    if visual.brightness is None or visual.saturation is None:
        return ""
    b, s = visual.brightness, visual.saturation
    light = "bright" if b >= 0.6 else "dark" if b < 0.35 else "mid-tone"
    sat = "vivid" if s >= 0.5 else "muted" if s < 0.25 else "natural"
    return f"{light}, {sat} imagery ({', '.join(visual.palette[:3])})"


def summarize(profile: UserProfile) -> str:
    """One paragraph for people reading the plan; never shown in the ad itself."""
    if not profile.personalizable:
        return profile.summary
    parts: list[str] = []
    if profile.interests:
        main = profile.interests[0]
        others = [i.label for i in profile.interests[1:4]]
        s = f"Mostly into {main.label} ({main.weight:.0%} of history)"
        parts.append(s + (f", also {', '.join(others)}" if others else ""))
    styles = _names(profile.style)
    if styles:
        parts.append(f"responds to {' and '.join(styles)} content (tone: {profile.tone})")
    needs = _names(profile.implicit_needs)
    if needs:
        parts.append(f"looks for {' and '.join(needs)}")
    tendencies = _names(profile.decision_tendencies)
    if tendencies:
        parts.append(f"tends to be {' and '.join(tendencies)}")
    colours = _colour_words(profile.visual)
    if colours:
        parts.append(f"prefers {colours}")
    parts.append(f"language: {profile.language}")
    return "; ".join(parts) + "."


def _generic(user: User, reason: str, why: str, flags: Sequence[InputFlag] = ()) -> UserProfile:
    """A profile that allows no personalization (with what screening left out, if any)."""
    return UserProfile(
        user_id=user.id,
        personalizable=False,
        reason=reason,
        language=user.demographics.language or "en",
        summary=f"Generic audience: {why}.",
        flags=list(flags),
    )
