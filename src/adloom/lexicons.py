"""Curated word lists that keep creatives honest, private and free of smuggled instructions.

The Director reads them to keep sensitive traits and injected instructions out of a user's
profile; the Verifier reads them to catch what slipped through anyway. Both must agree on
what counts, so the lists live here, once:

* deceptive advertising claims (outcome guarantees, unproven superlatives, health and
  financial promises, fake urgency), after consumer-protection rules such as the FTC Act
  section 5 and the EU Unfair Commercial Practices Directive;
* sensitive traits (GDPR art. 9 special categories plus what ad platforms treat as
  personal attributes: finances, precise location, minors, criminal record);
* surveillance wording, which tells viewers they were watched;
* prompt-injection patterns, aimed at a language-model Director or generator;
* stereotype wording tied to gender, age or ethnicity, for the fairness audit.

Matching works on a folded copy of the text (case, accents, compatibility forms,
invisible characters and look-alike letters inside Latin words removed), at word
boundaries, with a plural suffix allowed on a phrase's last word; a :class:`Hit` points
back into the original text. English is covered most; common Spanish, French, German and
Chinese wording is listed where it is unambiguous. Lists are precise on purpose:
"sunscreen" or "2-year warranty" must never hit, because a false alarm blocks a
legitimate creative.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, get_args

DeceptiveCategory = Literal["guarantee", "superlative", "health", "financial", "urgency"]
SensitiveCategory = Literal[
    "health",
    "religion",
    "sexuality",
    "ethnicity",
    "finances",
    "precise_location",
    "minors",
    "political",
    "criminal",
]
SurveillanceCategory = Literal["observation", "activity", "history", "lookalike"]
InjectionCategory = Literal[
    "override",
    "role_play",
    "prompt_leak",
    "new_instructions",
    "role_tag",
    "jailbreak",
    "hidden_text",
    "homoglyph",
    "link",
]
StereotypeCategory = Literal["gender", "age", "ethnicity"]

DECEPTIVE_CATEGORIES: tuple[DeceptiveCategory, ...] = get_args(DeceptiveCategory)
SENSITIVE_CATEGORIES: tuple[SensitiveCategory, ...] = get_args(SensitiveCategory)
SURVEILLANCE_CATEGORIES: tuple[SurveillanceCategory, ...] = get_args(SurveillanceCategory)
INJECTION_CATEGORIES: tuple[InjectionCategory, ...] = get_args(InjectionCategory)
STEREOTYPE_CATEGORIES: tuple[StereotypeCategory, ...] = get_args(StereotypeCategory)

#: Injection tricks that live in a span (an invisible character, a spoofed word, a link):
#: cutting the span out neutralizes them. Any other injection taints its whole text.
STRIPPABLE: frozenset[str] = frozenset({"hidden_text", "homoglyph", "link"})

#: Category given to terms a caller adds to a lexicon without a category of its own.
CUSTOM = "custom"


@dataclass(frozen=True)
class Hit:
    """One match: its category, the text as written, and where it is in the original."""

    category: str
    term: str
    start: int
    end: int


# --------------------------------------------------------------------------- folding

_PUNCT = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u02bc": "'",
        "\u00b4": "'",
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
    }
)
#: Cyrillic and Greek letters that pass for Latin ones ("раypal"); only folded inside
#: words that also hold Latin letters, so Russian or Greek text is left alone.
_LOOKALIKE = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
    "ј": "j", "ѕ": "s", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ѵ": "v",
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ϲ": "c",
}  # fmt: skip
_LOOKALIKE_TABLE = str.maketrans(_LOOKALIKE)
_WORD = re.compile(r"\w+")
#: Invisible joiners with honest uses outside ASCII (Persian ZWNJ, emoji ZWJ sequences);
#: like the soft hyphen and a leading byte-order mark, they do not count as hidden text.
_JOINERS = frozenset({"\u200c", "\u200d"})


@dataclass(frozen=True)
class Folded:
    """A matching copy of a text and, per folded character, its index in the original."""

    text: str
    index: tuple[int, ...]
    #: Original (start, end) of words mixing Latin letters with look-alikes.
    spoofed: tuple[tuple[int, int], ...] = ()

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of folded ``[start, end)``."""
        if end <= start:
            return self.index[start], self.index[start]
        return self.index[start], self.index[end - 1] + 1


@lru_cache(maxsize=8192)
def fold(text: str) -> Folded:
    """Lower-case, accent-free, NFKC-like text with invisible format characters dropped.

    Dropping format characters means "ignore" with a zero-width space inside still reads
    "ignore"; folding look-alikes inside Latin words means one with a Cyrillic "і" does too.
    """
    if text.isascii():
        return Folded(text.lower(), tuple(range(len(text) + 1)))
    chars: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) == "Cf":
            continue
        base = unicodedata.normalize("NFKD", ch.translate(_PUNCT))
        base = "".join(c for c in base if not unicodedata.combining(c))
        for c in unicodedata.normalize("NFC", base).casefold():
            chars.append(c)
            index.append(i)
    index.append(len(text))
    folded = "".join(chars)
    spoofed: list[tuple[int, int]] = []
    for m in _WORD.finditer(folded):
        word = m.group()
        if any("a" <= c <= "z" for c in word) and any(c in _LOOKALIKE for c in word):
            chars[m.start() : m.end()] = list(word.translate(_LOOKALIKE_TABLE))
            spoofed.append((index[m.start()], index[m.end() - 1] + 1))
    return Folded("".join(chars), tuple(index), tuple(spoofed))


def _hidden_spans(text: str) -> list[tuple[int, int]]:
    """Spans of words carrying invisible characters (zero-width, bidi overrides, tags)."""
    out: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch) != "Cf" or ch == "\u00ad" or (ch == "\ufeff" and i == 0):
            continue
        near = text[max(0, i - 1) : i] + text[i + 1 : i + 2]
        if ch in _JOINERS and not any(c.isascii() and c.isalpha() for c in near):
            continue
        a, b = i, i + 1
        while a > 0 and (text[a - 1].isalnum() or unicodedata.category(text[a - 1]) == "Cf"):
            a -= 1
        while b < len(text) and (text[b].isalnum() or unicodedata.category(text[b]) == "Cf"):
            b += 1
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


# --------------------------------------------------------------------------- rules

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def phrase_pattern(phrase: str) -> str:
    """A regex for ``phrase`` on folded text: whole words, spaces or hyphens between
    them, an optional apostrophe, and a plural ending allowed on the last word."""
    words = [w for w in re.split(r"[\s\-]+", fold(phrase).text.strip()) if w]
    if not words:
        return r"(?!x)x"
    parts = [re.escape(w).replace("'", "'?") for w in words]
    last = words[-1]
    if last.isascii() and last.isalpha() and len(last) >= 3:
        if last.endswith("y") and last[-2] not in "aeiou":
            parts[-1] = re.escape(last[:-1]) + "(?:y|ies)"
        else:
            parts[-1] += "(?:e?s)?"
    body = r"[\s\-]*".join(parts)
    left = "" if _CJK.match(words[0][0]) else r"(?<!\w)"
    right = "" if _CJK.match(last[-1]) else r"(?!\w)"
    return left + body + right


@dataclass(frozen=True)
class Rules:
    """One category's entries: plain phrases, regexes on folded text, and regexes on the
    original text (where letter case carries meaning, as in street names)."""

    phrases: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    raw: tuple[str, ...] = ()


def _p(*phrases: str) -> tuple[str, ...]:
    return phrases


#: What phrases are indexed by: a word, apostrophes included ("don't") then dropped.
_TOKEN = re.compile(r"[\w']+")


def _first_word(phrase: str) -> str | None:
    """The folded word a phrase starts with, or None when it starts with CJK or a symbol."""
    folded = fold(phrase).text.strip()
    m = _TOKEN.match(folded)
    if m is None or folded[0] == "'" or _CJK.match(folded[0]):
        return None
    return m.group().replace("'", "")


def _stems(word: str) -> tuple[str, ...]:
    """``word`` and the singulars it may be a plural of."""
    out = [word]
    if word.endswith("s") and len(word) > 3:
        out.append(word[:-1])
        if word.endswith("es"):
            out.append(word[:-2])
        if word.endswith("ies"):
            out.append(word[:-3] + "y")
    return tuple(out)


@dataclass
class Lexicon:
    """Categories of rules; :meth:`hits` scans a text for all of them at once.

    Phrases are indexed by their first word, so a text is read word by word and only
    phrases that can start there are tried: hundreds of phrases cost a few dictionary
    look-ups per word rather than one regex branch each per character.
    """

    rules: Mapping[str, Rules]
    _index: dict[str, list[tuple[str, re.Pattern[str]]]] = field(init=False, default_factory=dict)
    _folded: dict[str, re.Pattern[str]] = field(init=False, default_factory=dict)
    _cjk: dict[str, re.Pattern[str]] = field(init=False, default_factory=dict)
    _raw: dict[str, re.Pattern[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for category, r in self.rules.items():
            loose, cjk = list(r.patterns), []
            for phrase in dict.fromkeys(r.phrases):
                pattern = phrase_pattern(phrase)
                key = _first_word(phrase)
                if key is not None:
                    self._index.setdefault(key, []).append((category, re.compile(pattern)))
                elif _CJK.match(fold(phrase).text.strip()):
                    cjk.append(pattern)
                else:
                    loose.append(pattern)
            for table, alts in ((self._folded, loose), (self._cjk, cjk), (self._raw, r.raw)):
                if alts:
                    table[category] = re.compile("|".join(f"(?:{a})" for a in alts), re.M)

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.rules)

    def hits(self, text: str) -> list[Hit]:
        if not text:
            return []
        folded = fold(text)
        out: list[Hit] = []
        for w in _TOKEN.finditer(folded.text):
            token = w.group()
            start = w.start() + len(token) - len(token.lstrip("'"))
            for stem in _stems(token.replace("'", "")):
                for category, pattern in self._index.get(stem, ()):
                    m = pattern.match(folded.text, start)
                    if m is not None:
                        out.extend(_hit(category, text, *folded.span(m.start(), m.end())))
        loose = list(self._folded.items())
        if _CJK.search(folded.text):
            loose += self._cjk.items()
        for category, pattern in loose:
            for m in pattern.finditer(folded.text):
                out.extend(_hit(category, text, *folded.span(m.start(), m.end())))
        for category, pattern in self._raw.items():
            for m in pattern.finditer(text):
                out.extend(_hit(category, text, m.start(), m.end()))
        order = {c: k for k, c in enumerate(self.rules)}
        return sorted(_dedupe(out), key=lambda h: (h.start, order.get(h.category, 0)))

    def extended(self, extra: Mapping[str, Sequence[str]]) -> Lexicon:
        """This lexicon with more phrases per category (a campaign's own terms)."""
        rules = dict(self.rules)
        for category, phrases in extra.items():
            if category not in rules and category != CUSTOM:
                known = ", ".join(self.categories)
                raise ValueError(f"unknown category {category!r} (known: {known})")
            old = rules.get(category, Rules())
            new = tuple(p for p in phrases if p.strip())
            rules[category] = Rules(old.phrases + new, old.patterns, old.raw)
        return Lexicon(rules)


def _hit(category: str, text: str, start: int, end: int) -> list[Hit]:
    """The hit for ``text[start:end]`` with surrounding whitespace trimmed (none if empty)."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return [Hit(category, text[start:end], start, end)] if end > start else []


def _dedupe(hits: Iterable[Hit]) -> list[Hit]:
    """Per category, the longest of overlapping hits; ordered by position."""
    kept: list[Hit] = []
    last_end: dict[str, int] = {}
    for h in sorted(hits, key=lambda h: (h.start, -(h.end - h.start), h.category)):
        if h.start >= last_end.get(h.category, -1):
            kept.append(h)
            last_end[h.category] = h.end
    return kept


# --------------------------------------------------------------------------- deceptive

_OUTCOME = r"(?:results?|success|outcomes?|wins?|effects?|weight\s*loss|approval|growth|gains?)"

#: Claims an ad may not make without evidence (superlative, health) or at all.
DECEPTIVE: dict[str, Rules] = {
    # A guarantee of terms (warranty, money back) is a fact; a guarantee of outcome is not.
    "guarantee": Rules(
        _p(
            "guaranteed results", "results guaranteed", "success guaranteed",
            "risk-free", "100% guaranteed", "guaranteed 100%", "works every time",
            # es / fr / de
            "resultados garantizados", "100% garantizado", "garantizado al 100%",
            "sin riesgo", "resultats garantis", "100% garanti", "garanti a 100%",
            "sans risque", "garantierte ergebnisse", "erfolg garantiert",
            "100% garantiert", "risikofrei", "ohne risiko",
            # zh
            "保证有效", "效果保证", "保证见效", "百分百有效", "100%有效",
        ),
        (
            r"\bguarantee[ds]?\s+(?:to\s+(?:work|succeed|win|last\s+forever|fix|help|grow|make)"
            r"|you(?:'ll|\s+will)\b)",
            rf"\bguaranteed\s+(?:\w+\s+){{0,2}}?{_OUTCOME}\b",
            r"\b100\s*%\s*(?:effective|successful|success|safe|results?)\b",
            r"(?<=[,;:!-])\s*guaranteed\s*[.!]*\s*$",
        ),
    ),
    "superlative": Rules(
        _p(
            "best in the world", "world's best", "best ever", "number one", "the only",
            "one and only", "unbeatable", "unrivalled", "unrivaled", "unmatched",
            "clinically proven", "scientifically proven", "medically proven",
            "better than any", "beats any", "beats all", "nothing beats", "nothing compares",
            "miracle",
            # es
            "mejor del mundo", "numero uno", "el unico", "la unica", "inigualable",
            "insuperable", "clinicamente probado", "cientificamente probado",
            # fr
            "meilleur au monde", "meilleur du monde", "numero un", "le seul", "la seule",
            "imbattable", "inegale", "cliniquement prouve", "scientifiquement prouve",
            # de
            "weltbeste", "beste der welt", "nummer eins", "der einzige", "die einzige",
            "das einzige", "unschlagbar", "unubertroffen", "klinisch bewiesen",
            "klinisch erwiesen", "wissenschaftlich bewiesen",
            # zh
            "世界第一", "全球第一", "最好的", "最佳", "第一品牌", "唯一", "无与伦比",
            "临床证明", "最强", "国家级", "顶级",
        ),
        (
            r"(?<!\w)#\s?1(?!\w)",
            r"\b(?:no|nr)\.\s?1(?!\w)",
            r"(?<!\w)n[°º]\s?1(?!\w)",
            r"\bbest\s+(?:\w+\s+){0,3}?(?:in|of|on)\s+the\s+(?:world|universe|planet|market)\b",
            r"\b(?:world|market|industry)(?:'s)?\s+(?:leading|first|greatest|number\s+one)\b",
            r"\b(?:all|every|most|\d+\s+out\s+of\s+\d+)\s+"
            r"(?:experts?|doctors?|dentists?|dermatologists?)\s+(?:agree|recommend)",
        ),
    ),
    "health": Rules(
        _p(
            "cure", "cured", "curing", "heal", "healed", "healing", "remedy", "miracle cure",
            "detox", "detoxify", "detoxifies", "fat burning", "burns fat", "burn fat",
            "lose weight", "no side effects",
            # es
            "cura", "curar", "previene enfermedades", "adelgaza", "adelgazar", "pierde peso",
            "desintoxica", "quema grasa",
            # fr
            "guerit", "guerir", "previent les maladies", "perdez du poids",
            "brule les graisses",
            # de
            "heilt", "heilen", "beugt krankheiten vor", "verhindert krankheiten",
            "entgiftet", "entgiftung", "fettverbrennung", "starkt das immunsystem",
            # zh
            "治愈", "根治", "治疗", "包治", "药到病除", "减肥", "排毒", "预防疾病",
            "增强免疫力", "抗癌",
        ),
        (
            r"\b(?:prevents?|preventing|stops?|reverses?|fights?|treats?|treating|treated)\s+"
            r"(?:\w+\s+){0,2}?(?:diseases?|illness(?:es)?|cancer|diabetes|infections?|"
            r"viruses?|covid|flu|colds?|depression|anxiety|insomnia|acne|eczema|arthritis|"
            r"pain|inflammation|aging|ageing|hair\s*loss)\b",
            r"\b(?:it|that|which|this)\s+treats\b",
            r"\b(?:lose|drop|shed|burn)\s+(?:up\s+to\s+)?\d+(?:[.,]\d+)?\s*"
            r"(?:kg|kgs|kilos?|kilograms?|lbs?|pounds?|stones?)\b",
            r"\b(?:boosts?|strengthens?)\s+(?:your\s+)?immun(?:e|ity)(?:\s+system)?\b",
            r"\breverses?\s+(?:the\s+)?(?:signs\s+of\s+)?(?:aging|ageing)\b",
            r"\bpierde\s+\d+\s*(?:kg|kilos?)\b",
            r"\bperde[zs]?\s+\d+\s*(?:kg|kilos?)\b",
            r"\b\d+\s*(?:kg|kilo)\s+abnehmen\b",
        ),
    ),
    "financial": Rules(
        _p(
            "get rich", "get rich quick", "guaranteed income", "guaranteed return",
            "guaranteed profit", "double your money", "triple your money", "passive income",
            "financial freedom", "quit your job", "easy money",
            "free money", "make money fast", "earn money fast",
            # es / fr / de
            "hazte rico", "hazte rica", "dinero facil", "duplica tu dinero",
            "ingresos garantizados", "ingresos pasivos", "devenez riche",
            "doublez votre argent", "argent facile", "revenu garanti", "revenus passifs",
            "zero risque", "werde reich", "schnell reich", "verdopple dein geld",
            "verdoppeln sie ihr geld", "leichtes geld", "garantiertes einkommen",
            "passives einkommen", "null risiko",
            # zh
            "快速致富", "一夜暴富", "稳赚", "稳赚不赔", "翻倍", "零风险", "无风险", "保本",
            "躺赚", "被动收入",
        ),
        (
            r"\b(?:no|zero)\s+risks?\b(?!\s+(?:of|to|for)\b)",
            r"\b(?:make|earn)\s+[$€£]?\d[\d,.]*\s*k?\s*(?:\$|usd|eur|euros?|dollars?)?\s*"
            r"(?:a|per|every|each)\s+(?:day|week|month|hour)\b",
        ),
    ),
    # A rendered creative is served for weeks, so time-bound pressure turns false.
    "urgency": Rules(
        _p(
            "only today", "today only", "last chance", "act now", "act fast",
            "before it's gone", "before they're gone", "hurry", "hurry up", "don't miss out",
            "now or never", "selling fast", "almost gone", "ends tonight", "ends today",
            "ends soon", "ending soon", "final hours", "last few", "countdown",
            "limited time only", "expires today", "expires tonight",
            # es
            "solo hoy", "ultima oportunidad", "date prisa", "no te lo pierdas",
            # fr
            "aujourd'hui seulement", "seulement aujourd'hui", "derniere chance",
            "depechez-vous", "depeche-toi", "ne ratez pas",
            # de
            "nur heute", "heute nur", "letzte chance", "beeilen sie sich", "beeil dich",
            "schnell zugreifen",
            # zh
            "仅限今天", "今天最后一天", "最后机会", "限时抢购", "手慢无", "倒计时", "马上抢",
            "错过再等一年",
        ),
        (
            r"\bonly\s+\d+\s+(?:\w+\s+)?(?:left|remaining)\b",
            r"\b\d+\s+(?:\w+\s+)?left\s+in\s+stock\b",
            r"\b(?:ends?|expires?|ending)\s+in\s+\d+\s*"
            r"(?:h|hours?|hrs?|minutes?|mins?|m|seconds?|secs?|days?)\b",
            r"\b\d+\s*(?:hours?|hrs?|minutes?|mins?|seconds?|secs?)\s+(?:left|to\s+go|remaining)\b",
            r"\b\d{1,2}:\d{2}(?::\d{2})?\s+(?:left|remaining)\b",
            r"\b(?:solo\s+)?quedan\s+(?:solo\s+)?\d+\b",
            r"\bplus\s+que\s+\d+\b",
            r"\bil\s+(?:n')?(?:en\s+)?reste\s+(?:que\s+|seulement\s+)?\d+\b",
            r"\bnur\s+noch\s+\d+\b",
            r"(?:仅剩|只剩)\s*\d+",
        ),
    ),
}  # fmt: skip

# --------------------------------------------------------------------------- sensitive

#: Traits an ad must never reveal or imply about its viewer (GDPR art. 9, platform
#: personal-attribute policies). Bare words that are ordinary product vocabulary
#: ("sensitive skin", "race day", "black boots", "blinds") are left out on purpose.
SENSITIVE: dict[str, Rules] = {
    "health": Rules(
        _p(
            "diabetes", "diabetic", "prediabetes", "insulin", "cancer", "chemo",
            "chemotherapy", "leukemia", "leukaemia", "tumor", "tumour", "hiv", "std", "sti",
            "herpes", "hepatitis", "depression", "depressed", "anxiety", "panic attack",
            "bipolar", "schizophrenia", "schizophrenic", "ptsd", "ocd", "adhd", "autism",
            "autistic", "eating disorder", "anorexia", "bulimia", "mental illness",
            "mental health", "mental disorder", "suicide", "suicidal", "self-harm",
            "addiction", "alcoholism", "rehab", "sobriety", "overdose", "opioid",
            "methadone", "antidepressant", "ssri", "medication", "prescription",
            "diagnosis", "diagnosed", "chronic illness", "chronic pain", "terminal illness",
            "disease", "illness", "disability", "disabled", "wheelchair", "handicapped",
            "visually impaired", "hearing impaired", "hearing loss", "dementia", "alzheimer",
            "alzheimer's", "parkinson's", "epilepsy", "seizure", "asthma", "arthritis",
            "multiple sclerosis", "heart disease", "heart attack", "obesity", "obese",
            "pregnancy", "pregnant", "miscarriage", "abortion", "ivf", "infertility",
            "fertility treatment", "fertility clinic", "menopause", "erectile dysfunction",
            "impotence", "incontinence", "psoriasis", "eczema", "therapy", "therapist",
            "psychiatrist", "genetic disorder", "dna test",
            # es
            "diabetico", "diabetica", "depresion", "ansiedad", "embarazo", "embarazada",
            "discapacidad", "salud mental", "adiccion", "enfermedad",
            # fr
            "diabete", "anxiete", "grossesse", "enceinte", "sante mentale", "maladie",
            # de
            "krebs", "angststorung", "schwangerschaft", "schwanger", "behinderung",
            "psychische erkrankung", "krankheit",
            # zh
            "糖尿病", "癌症", "抑郁症", "抑郁", "焦虑症", "怀孕", "孕妇", "残疾", "艾滋病",
            "精神病", "心理健康", "疾病",
        ),
    ),
    "religion": Rules(
        _p(
            "religion", "religious", "christian", "christianity", "catholic", "protestant",
            "evangelical", "muslim", "islam", "islamic", "jewish", "judaism", "hindu",
            "hinduism", "buddhist", "buddhism", "sikh", "atheist", "bible", "quran", "koran",
            "torah", "church", "mosque", "synagogue", "prayer", "ramadan", "kosher", "halal",
            "hijab",
            # es / fr / de
            "cristiano", "catolico", "musulman", "judio", "iglesia", "mezquita",
            "biblia", "chretien", "catholique", "juif", "eglise", "mosquee",
            "christlich", "katholisch", "evangelisch", "muslimisch", "judisch", "kirche",
            "moschee", "bibel",
            # zh
            "宗教", "基督教", "天主教", "伊斯兰", "穆斯林", "犹太", "佛教", "教会", "清真寺",
            "圣经",
        ),
    ),
    "sexuality": Rules(
        _p(
            "gay", "lesbian", "bisexual", "homosexual", "queer", "lgbt", "lgbtq", "lgbtqia",
            "transgender", "nonbinary", "non-binary", "sexual orientation", "gender identity",
            "asexual", "pansexual", "coming out", "dating", "sex life",
            # es / fr / de
            "lesbiana", "transgenero", "orientacion sexual", "identidad de genero",
            "homosexuel", "homosexuelle", "lesbienne", "transgenre", "orientation sexuelle",
            "identite de genre", "schwul", "lesbisch", "homosexuell", "bisexuell",
            "sexuelle orientierung", "geschlechtsidentitat",
            # zh
            "同性恋", "双性恋", "跨性别", "性取向", "性别认同",
        ),
        (r"\btrans\s+(?:man|men|woman|women|person|people|kids?|youth)\b",),
    ),
    "ethnicity": Rules(
        _p(
            "racial", "ethnic", "ethnicity", "ethnic origin", "biracial", "mixed race",
            "african american", "hispanic", "latino", "latina", "latinx", "caucasian",
            "indigenous", "aboriginal", "immigrant", "refugee", "nationality",
            "people of color", "people of colour",
            # es / fr / de
            "etnia", "etnico", "origen etnico", "inmigrante", "ethnique", "origine ethnique",
            "immigre", "ethnisch", "migrationshintergrund", "einwanderer",
            # zh
            "种族", "少数民族",
        ),
        (
            r"\b(?:your|their|his|her|any|every|by|of)\s+race\b",
            r"\b(?:black|white|asian|brown)\s+(?:people|women|men|folks|community)\b",
            r"\b(?:fellow|proud|as\s+an?)\s+(?:american|mexican|indian|chinese|nigerian|"
            r"turkish|polish|arab|african|asian|european|latin[oa])s?\b",
        ),
    ),
    "finances": Rules(
        _p(
            "debt", "in debt", "indebted", "bankruptcy", "bankrupt", "insolvency",
            "low income", "credit score", "bad credit", "poor credit", "credit rating",
            "payday loan", "loan", "foreclosure", "eviction", "evicted", "unemployed",
            "unemployment", "jobless", "food stamps", "poverty", "paycheck to paycheck",
            # es / fr / de
            "deuda", "endeudado", "bancarrota", "quiebra", "bajos ingresos", "desempleado",
            "desempleo", "prestamo", "pobreza", "dette", "endette", "faillite",
            "surendettement", "faibles revenus", "bas revenus", "chomage", "chomeur",
            "pauvrete", "schulden", "verschuldet", "insolvenz", "privatinsolvenz", "pleite",
            "arbeitslos", "arbeitslosigkeit", "schufa", "geringes einkommen", "armut",
            # zh
            "负债", "欠债", "债务", "破产", "低收入", "失业", "信用分", "征信", "贷款",
        ),
    ),
    "precise_location": Rules(
        _p(
            "near you at", "where you live", "your home address", "your address",
            "your current location", "your exact location", "your location",
        ),
        (
            r"\byou\s+live\s+(?:at|on)\b",
            # coordinates: 59.9139, 10.7522 or 59°54'N
            r"-?\d{1,2}\.\d{3,}\s*°?\s*[ns]?\s*,\s*-?\d{1,3}\.\d{3,}\s*°?\s*[ew]?",
            r"\b\d{1,3}°\s*\d{1,2}['′]\s*(?:\d{1,2}(?:\.\d+)?[\"″]\s*)?[nsew]\b",
            r"\b\d{1,4}\s*,?\s+(?:rue|avenue|boulevard|bd|allee|chemin|impasse)\s+\w+",
            r"[\u4e00-\u9fff]{2,}(?:路|街|大道)\d+号",
        ),
        (
            r"\b\d{1,5}[A-Za-z]?,?\s+(?:[A-Z][\w'-]*\s+){1,3}"
            r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|"
            r"Place|Pl|Way|Terrace|Highway|Hwy)\b\.?",
            r"\b(?:at|on|near)\s+(?:[A-Z][\w'-]*\s+){1,2}"
            r"(?:Street|St|Avenue|Ave|Road|Rd|Boulevard|Blvd|Lane|Ln)\b\.?",
            r"\b[A-ZÄÖÜ][\wäöüß-]*(?:straße|strasse|str\.|weg|gasse|allee|platz)\s+\d{1,4}[a-z]?\b",
            r"\b(?:[Cc]alle|[Aa]venida|[Aa]vda\.?|[Pp]laza|[Pp]aseo)\s+(?:de\s+)?"
            r"[A-Z]\w+(?:\s+[A-Z]\w+)?,?\s+\d{1,4}\b",
        ),
    ),
    "minors": Rules(
        _p(
            "for your child", "for your children", "for your kid", "for your son",
            "for your daughter", "teen", "teenager", "tween", "preteen", "adolescent",
            "minors", "schoolchildren",
            # es / fr / de
            "adolescente", "para tu hijo", "para tu hija", "para tus hijos",
            "pour votre enfant", "pour ton enfant",
            "jugendliche", "jugendlicher", "minderjahrige", "fur ihr kind", "fur dein kind",
            # zh
            "未成年", "青少年", "儿童", "小学生", "中学生",
        ),
        (
            r"\b(?:kids|children|child|boys|girls|teens|students|users)\s+"
            r"(?:under|below|younger\s+than|aged)\s+\d{1,2}\b",
            r"\bunder[\s-]*1[0-7]s\b",
            r"\b(?:1[0-7]|[1-9])[\s-]*(?:year|yr)[\s-]*(?:olds\b|old\s+(?:kids?|children|child|"
            r"boys?|girls?|sons?|daughters?|students?)\b)",
            r"\b(?:ninos|menores)\s+(?:menores\s+)?de\s+\d{1,2}\b",
            r"\benfants\s+de\s+moins\s+de\s+\d{1,2}\b",
            r"\bkinder\s+unter\s+\d{1,2}\b",
        ),
    ),
    "political": Rules(
        _p(
            "politics", "political", "politician", "democrat", "republican", "labour party",
            "labor party", "tory", "tories", "conservative party", "liberal party",
            "left-wing", "right-wing", "far-right", "far-left", "socialist", "communist",
            "fascist", "election", "vote for", "voter", "voting", "ballot", "political party",
            "activist", "activism", "protest", "trade union", "union member",
            # es / fr / de
            "elecciones", "partido politico", "votar", "izquierdista", "derechista",
            "parti politique", "syndicat", "politisch", "partei", "gewerkschaft",
            "bundestagswahl",
            # zh
            "政治", "选举", "政党", "投票",
        ),
    ),
    "criminal": Rules(
        _p(
            "criminal record", "criminal history", "criminal conviction", "convicted",
            "felony", "felon", "arrest record", "arrested", "jail", "prison", "prisoner",
            "inmate", "parole", "on probation", "dui", "dwi", "sex offender", "mugshot",
            "court date", "bail bond",
            # es / fr / de
            "antecedentes penales", "carcel", "prision", "condenado", "casier judiciaire",
            "vorstrafe", "vorstrafen", "vorbestraft", "gefangnis", "haftstrafe",
            # zh
            "犯罪记录", "前科", "坐牢", "监狱", "服刑",
        ),
    ),
}  # fmt: skip

# --------------------------------------------------------------------------- surveillance

_ACTIVITY = (
    r"(?:searched|viewed|visited|browsed|looked\s+at|watched|bought|purchased|liked|"
    r"clicked|shopped|googled|added)"
)

#: Wording that tells viewers they were observed: second person plus an observation.
SURVEILLANCE: dict[str, Rules] = {
    "observation": Rules(
        _p(
            "we saw you", "we've seen you", "we have seen you", "we noticed you",
            "we've noticed", "we know what you", "we've been watching", "we are watching",
            "we're watching you", "we've been tracking", "we tracked",
            # es / fr
            "te vimos", "te hemos visto", "on t'a vu", "nous t'avons vu", "nous vous avons vu",
            # zh
            "我们看到你", "我们知道你", "我们注意到你",
        ),
        (
            # "we know you love late nights", but not "we know you'll love it"
            r"\bwe\s+know\s+(?:that\s+)?you(?!'ll|\s+will|'re\s+going)\b",
            r"\b(?:sabemos|vimos|notamos|hemos\s+visto)\s+que\s+(?:tu|te|usted|has)\b",
            r"\b(?:nous\s+savons|on\s+sait|nous\s+avons\s+vu|on\s+a\s+vu)\s+que\s+"
            r"(?:tu|vous)\b",
            r"\bwir\s+(?:wissen|haben\s+gesehen|haben\s+bemerkt),?\s+dass\s+(?:du|sie)\b",
        ),
    ),
    "activity": Rules(
        _p(
            "buscaste", "visitaste", "compraste",
            "你最近搜索", "你搜索过", "你浏览过", "你看过", "你买过", "您最近浏览",
        ),
        (
            rf"\b(?:you|u)(?:'ve|\s+have)?\s+(?:recently\s+|just\s+|already\s+|also\s+)?"
            rf"{_ACTIVITY}\b",
            r"\byour\s+recent\s+(?:search(?:es)?|visits?|purchases?|orders?|activity|views?|"
            r"browsing)\b",
            r"\b(?:has|haz)\s+(?:buscado|visto|visitado|comprado)\b",
            r"\b(?:vous\s+avez|tu\s+as)\s+(?:recemment\s+)?"
            r"(?:consulte|recherche|visite|achete|regarde)\b",
            r"\b(?:du\s+hast|sie\s+haben)\s+(?:kurzlich\s+|gerade\s+)?(?:\w+\s+){0,3}?"
            r"(?:gesucht|angesehen|besucht|gekauft|angeschaut)\b",
        ),
    ),
    "history": Rules(
        _p(
            "segun tu historial", "tu historial de", "d'apres votre historique",
            "selon votre historique", "votre historique de", "deinem verlauf",
            "ihrem verlauf", "根据你的浏览记录", "根据您的浏览记录", "根据你的搜索",
            "你的浏览记录", "您的浏览记录",
        ),
        (
            r"\bbased\s+on\s+(?:your|what\s+you)\s+(?:\w+\s+){0,2}?(?:history|search(?:es)?|"
            r"activity|browsing|purchases?|views?|clicks?|location|data|profile|interests|"
            r"searched|viewed|bought|watched)\b",
            r"\byour\s+(?:browsing|search|purchase|watch|viewing|order)\s+history\b",
            r"\b(?:basierend\s+auf|anhand)\s+(?:deines|deinem|deiner|ihres|ihrem|ihrer)\s+"
            r"\w*verlauf",
        ),
    ),
    "lookalike": Rules(
        _p("personas como tu que", "des gens comme vous qui", "像你这样的人"),
        (
            r"\b(?:people|users|customers|shoppers|others|folks|someone)\s+like\s+you\s+"
            r"(?:who|that)\b",
            r"\bpeople\s+who\s+(?:searched|viewed|bought)\s+(?:this|what\s+you)\b",
            r"\bleute\s+wie\s+(?:du|sie),?\s+die\b",
        ),
    ),
}  # fmt: skip

# --------------------------------------------------------------------------- injection

_DET = r"(?:(?:all|any|every|each|the|your|my|of|these|those|its)\s+)*"
_DIRECTIVE = (
    r"(?:instructions?|prompts?|rules|directions|guidelines|messages?|commands?|context|"
    r"text|content|constraints|programming)"
)

#: Text aimed at a language model rather than a viewer.
INJECTION: dict[str, Rules] = {
    "override": Rules(
        (),
        (
            rf"\b(?:ignore|disregard|forget|override)\s+{_DET}(?:previous|prior|above|"
            rf"earlier|preceding|former|original|initial|system|foregoing)\s+{_DIRECTIVE}\b",
            rf"\b(?:ignore|disregard)\s+{_DET}(?:above|foregoing)\b",
            rf"\b(?:ignore|disregard|forget|override)\s+{_DET}(?:instructions?|prompts?|"
            rf"system\s+prompt|guidelines|directives|programming)\b",
            r"\b(?:forget|ignore)\s+everything\s+(?:you|above|before|else|i\s+said)\b",
            r"\bdo\s+not\s+follow\s+(?:the|your|any)\s+(?:\w+\s+)?(?:instructions|rules|"
            r"guidelines)\b",
            r"\b(?:ignora|ignore|olvida|olvide)\s+(?:todas\s+)?(?:las\s+)?instrucciones"
            r"(?:\s+(?:anteriores|previas))?\b",
            r"\b(?:ignore|ignorez|oublie|oubliez)\s+(?:toutes\s+)?(?:les\s+)?"
            r"(?:instructions|consignes)(?:\s+(?:precedentes|anterieures))?\b",
            r"\b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie)\s+(?:alle\s+)?"
            r"(?:die\s+)?(?:vorherigen\s+|bisherigen\s+|obigen\s+)?"
            r"(?:anweisungen|instruktionen|regeln|befehle)\b",
            r"(?:忽略|无视|忘记|忘掉)(?:之前|以上|上面|前面|先前|所有)?(?:的)?(?:所有)?"
            r"(?:指令|指示|提示|规则|说明)",
        ),
    ),
    "role_play": Rules(
        _p(
            "ahora eres", "actua como", "tu es maintenant", "vous etes maintenant",
            "agis comme", "du bist jetzt", "ab jetzt bist du", "verhalte dich wie",
            "你现在是", "从现在开始你", "从现在起你", "假装你是",
        ),
        (
            r"\byou\s+are\s+now\s+(?:an?\s+|the\s+|my\s+|in\s+|no\s+longer\b|free\b|"
            r"unrestricted\b|unfiltered\b|dan\b)",
            r"\bfrom\s+now\s+on,?\s+you\s+(?:are|will|must|shall|should)\b",
            r"(?:^|(?<=[.!?:;\n]))\s*(?:please\s+)?(?:act|behave|respond)\s+as\s+"
            r"(?:an?|the|my)\s",
            r"\bpretend\s+(?:to\s+be|you\s+are|that\s+you)\b",
            r"\brole[\s-]?play\s+as\b",
            r"\byour\s+new\s+(?:role|persona|task|instructions?)\s+(?:is|are)\b",
        ),
    ),
    "prompt_leak": Rules(
        _p("system prompt", "系统提示", "提示词"),
        (
            r"\b(?:reveal|print|show|repeat|output|display|leak|dump|tell|give|write\s+out|"
            r"what\s+(?:is|are|were))\s+(?:me\s+|us\s+)?(?:all\s+)?(?:your\s+(?:\w+\s+)?"
            r"(?:prompt|instructions|system\s+message|rules|guidelines)|the\s+(?:system|"
            r"initial|original|hidden|secret|full)\s+(?:prompt|instructions|message))\b",
            r"\b(?:revela|muestra|imprime|repite)\s+(?:tu|tus|el|las)\s+"
            r"(?:prompt|instrucciones)\b",
            r"\b(?:revele|revelez|affiche|affichez|montre|montrez|repete|repetez)\s+"
            r"(?:ton|ta|tes|votre|vos|le|les)\s+(?:prompt|instructions|consignes)\b",
            r"\b(?:zeige|zeig|verrate|wiederhole|gib)\s+(?:mir\s+)?(?:deinen|deine|den|die|"
            r"ihren|ihre)\s+(?:system-?prompt|prompt|anweisungen)\b",
            r"(?:泄露|显示|告诉我)你的(?:指令|提示)",
        ),
    ),
    "new_instructions": Rules(
        _p(
            "nuevas instrucciones", "nouvelles instructions", "nouvelle consigne",
            "neue anweisungen", "neue anweisung", "新指令", "新的指令",
        ),
        (
            r"\b(?:new|updated|real|actual|secret|hidden|override)\s+(?:instructions?|directives?|orders|task|system\s+message)\s*:",
            r"\binstructions?\s+(?:for|to)\s+(?:the\s+)?(?:ai|assistant|model|llm|bot|"
            r"chatbot|director)\b",
            r"\b(?:note|message)\s+to\s+(?:the\s+)?(?:ai|assistant|model|llm|bot)\b",
            r"新任务\s*[:：]",
        ),
    ),
    "role_tag": Rules(
        (),
        (
            r"<\|\s*[a-z_]{2,20}\s*\|>",
            r"<\|(?:im_start|im_end|endoftext|system|user|assistant)\b",
            r"\[/?(?:inst|sys|system)\]",
            r"<</?sys>>",
            r"<\s*/?\s*(?:system|assistant|user|instructions?)\s*>",
            r"#{2,6}\s*(?:instructions?|system|response|input|prompt|assistant|user)\b",
            r"(?:^|(?<=[\n.!?;]))\s*(?:system|assistant|user|human|developer|ai)\s*:",
        ),
    ),
    "jailbreak": Rules(
        _p(
            "jailbreak", "jailbroken", "jailbreaking", "do anything now", "dan mode",
            "developer mode", "prompt injection", "modo desarrollador", "mode developpeur",
            "entwicklermodus", "越狱", "开发者模式",
        ),
        (
            r"\b(?:without|no|remove|disable|turn\s+off)\s+(?:any\s+|all\s+|your\s+)?"
            r"(?:guardrails|safety\s+(?:rules|guidelines|filters?)|content\s+polic(?:y|ies)|"
            r"moderation|censorship)\b",
            r"\bbypass\s+(?:the\s+|your\s+|all\s+|any\s+)?(?:filters?|safety|guardrails|"
            r"moderation|rules|restrictions|content\s+policy)\b",
            r"\bunfiltered\s+(?:mode|ai|responses?|answers?|output)\b",
        ),
    ),
    # Links and markup have no place in fields that hold plain words.
    "link": Rules(
        (),
        (
            r"\bhttps?://[^\s<>\"')\]]+",
            r"\bwww\.[^\s<>\"')\]]+",
            r"\[[^\]\n]{0,200}\]\(\s*[^)\s]{1,500}\s*\)",
            r"<\s*(?:a|script|iframe|img|object|embed|link|meta|style)\b[^>]{0,300}>?",
            r"\bjavascript\s*:",
            r"\bdata:[a-z]+/[a-z0-9.+-]+[;,]",
            r"(?<![\w@.-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|net|org|io|ai|co|"
            r"app|dev|xyz|info|biz|ru|cn|ly|me|shop|store|online|site|top|click|link|gg|tv)"
            r"\b(?:/[^\s<>\"')\]]*)?",
        ),
    ),
}  # fmt: skip

# --------------------------------------------------------------------------- stereotypes

#: Wording that ties a product or ability to a demographic group.
STEREOTYPE: dict[str, Rules] = {
    "gender": Rules(
        _p(
            "for the ladies", "man enough", "like a girl", "like a man", "girly", "manly",
            "real men", "real man", "be a man", "man up", "boys will be boys", "housewife",
            "housewives", "ladies love", "not for girls", "not for boys",
            # es / fr / de
            "como una nina", "para las damas", "cosa de hombres", "cosa de mujeres",
            "muy macho", "comme une fille", "pour les dames", "un vrai homme",
            "les vrais hommes", "truc de filles", "truc de mecs", "wie ein madchen",
            "fur die damen", "echte manner", "sei ein mann", "frauensache", "mannersache",
            # zh
            "像个女孩", "娘娘腔", "男人就该", "是男人就",
        ),
        (
            r"\b(?:women|girls|ladies|men|boys|guys)\s+(?:can't|cannot|can\s+not|don't|"
            r"are\s+bad\s+at|are\s+not\s+good\s+at|never)\b",
        ),
    ),
    "age": Rules(
        _p(
            "old people", "old folks", "old fogey", "senior moment", "boomer", "ok boomer",
            "too old for", "over the hill", "kids these days", "act your age",
            # es / fr / de
            "hasta la abuela", "hasta tu abuela", "meme mamie", "meme ta grand-mere",
            "les vieux", "sogar oma", "selbst oma", "sogar deine oma", "alte leute",
            # zh
            "连奶奶都会", "老年人都会",
        ),
        (
            r"\beven\s+(?:your\s+|my\s+|a\s+)?(?:grandma|granny|nan|nana|grandpa|grandad|"
            r"granddad|grandmother|grandfather|grandparents)\b",
            r"\b(?:your|a|my)\s+(?:grandma|granny|grandpa|grandad)\s+could\b",
        ),
    ),
    "ethnicity": Rules(
        _p(
            "exotic beauty", "exotic looks", "exotic women", "oriental", "ghetto", "thug",
            "spicy latina", "illegal alien", "illegals",
        ),
    ),
}  # fmt: skip


# --------------------------------------------------------------------------- matchers

_BASES: dict[str, dict[str, Rules]] = {
    "deceptive": DECEPTIVE,
    "sensitive": SENSITIVE,
    "surveillance": SURVEILLANCE,
    "injection": INJECTION,
    "stereotype": STEREOTYPE,
}

Extra = Mapping[str, Sequence[str]] | None


@lru_cache(maxsize=64)
def _lexicon(name: str, extra: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Lexicon:
    lexicon = Lexicon(_BASES[name])
    return lexicon.extended(dict(extra)) if extra else lexicon


def lexicon(name: str, extra: Extra = None) -> Lexicon:
    """The compiled lexicon ``name`` (deceptive, sensitive, surveillance, injection,
    stereotype), with ``extra`` phrases per category; compiled once per process."""
    if name not in _BASES:
        raise ValueError(f"unknown lexicon {name!r} (known: {', '.join(_BASES)})")
    key = tuple(sorted((k, tuple(v)) for k, v in (extra or {}).items() if v))
    return _lexicon(name, key)


def deceptive_hits(text: str, extra: Extra = None) -> list[Hit]:
    """Guarantees, superlatives, health and financial promises and fake urgency."""
    return lexicon("deceptive", extra).hits(text)


def sensitive_hits(text: str, extra: Extra = None) -> list[Hit]:
    """Words naming a sensitive trait (health, religion, sexuality, ...)."""
    return lexicon("sensitive", extra).hits(text)


def surveillance_hits(text: str, extra: Extra = None) -> list[Hit]:
    """Wording that tells the viewer they were watched ("you recently viewed")."""
    return lexicon("surveillance", extra).hits(text)


def injection_hits(text: str, extra: Extra = None) -> list[Hit]:
    """Instructions aimed at a model, role tags, links, and invisible or spoofed letters."""
    hits = lexicon("injection", extra).hits(text)
    hits += [Hit("hidden_text", text[a:b], a, b) for a, b in _hidden_spans(text)]
    hits += [Hit("homoglyph", text[a:b], a, b) for a, b in fold(text).spoofed]
    return sorted(hits, key=lambda h: (h.start, h.end, h.category))


def stereotype_hits(text: str, extra: Extra = None) -> list[Hit]:
    """Wording that ties a product or ability to gender, age or ethnicity."""
    return lexicon("stereotype", extra).hits(text)


def term_hits(text: str, terms: Iterable[str], category: str = CUSTOM) -> list[Hit]:
    """Whole-word occurrences of ``terms`` in ``text``, folded like every lexicon."""
    phrases = tuple(t for t in terms if t.strip())
    return _terms_lexicon(phrases, category).hits(text) if phrases else []


@lru_cache(maxsize=256)
def _terms_lexicon(phrases: tuple[str, ...], category: str) -> Lexicon:
    return Lexicon({category: Rules(phrases)})


_SECOND_PERSON = re.compile(
    r"\b(?:you|your|yours|you're|youre|you've|ur|tu|tus|usted|vous|votre|vos|toi|"
    r"dein|deine|deinen|deinem|deiner|ihre|ihren|ihrem|ihrer|dich|dir)\b"
    r"(?:\W+\w+){0,3}\W*$"
)
_ADDRESSED = re.compile(
    r"\b(?:are|do|were|have)\s+you\b|\byou(?:'re|\s+are|\s+have|'ve|\s+suffer|\s+struggle|"
    r"\s+live|\s+were|\s+feel|\s+got)\b|\blike\s+you\b|\bfor\s+you\b|[你您]|"
    r"\b(?:eres|estas|tienes|sufres|etes-vous|avez-vous|vous\s+etes|tu\s+es|as-tu|"
    r"bist\s+du|hast\s+du|du\s+bist|du\s+hast|sind\s+sie|haben\s+sie)\b"
)
_SENTENCE_END = re.compile(r"[.!?;\n。！？；]")


def is_personal(text: str, hit: Hit) -> bool:
    """Whether the sentence holding ``hit`` attributes it to the reader.

    "for your diabetes" or "Are you pregnant?" imply the viewer has the trait; "sugar-free,
    suitable for diabetics" names a topic without saying anything about who watches.
    """
    start = max((m.end() for m in _SENTENCE_END.finditer(text, 0, hit.start)), default=0)
    end_m = _SENTENCE_END.search(text, hit.end)
    end = end_m.start() if end_m else len(text)
    before = fold(text[start : hit.start]).text
    sentence = fold(text[start:end]).text
    return bool(_SECOND_PERSON.search(before) or _ADDRESSED.search(sentence))


_MARKUP = re.compile(r"[{}<>\[\]|\\`]")


def is_clean_label(text: str) -> bool:
    """Whether ``text`` may name a user interest in a profile, a plan or on screen.

    A label is said back to the user, so it must carry no sensitive trait, surveillance,
    instruction, stereotype or deceptive claim, and no markup or invisible characters.
    """
    label = text.strip()
    if not label or len(label) > 40 or _MARKUP.search(label):
        return False
    if any(unicodedata.category(c)[0] == "C" for c in label):
        return False
    return not (
        sensitive_hits(label)
        or injection_hits(label)
        or surveillance_hits(label)
        or stereotype_hits(label)
        or deceptive_hits(label)
    )
