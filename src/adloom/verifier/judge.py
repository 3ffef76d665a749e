"""The benchmark judge: 0-10 scores with a rationale per PCG dimension.

It lives beside the Verifier because it reads the same things (a creative's plan, its
product, its user) and reuses the Verifier's measures, but it never gates anything: the
Verifier decides accept/revise/reject for serving, the judge only scores creatives for
``adloom bench pcg``, where personalized and generic creatives are compared.

Dimensions follow the PCG benchmark: personalization (presentation and content),
product alignment, integration quality and diversity across one user's creatives. Two
backends:

* ``openai``: a (vision-)language model behind any OpenAI-compatible endpoint, with a
  rubric prompt per dimension written for adloom; each reply is a score and a rationale.
* ``embedded``: transparent proxies, every judgement marked ``proxy=True``: embedding
  alignment between the user's history and the creative's text and visual cues, colour
  closeness, claim coverage and grounding, fit to the serving context, and diversity as
  mean pairwise dissimilarity across a user's creatives. They are measurements, not
  taste, and are labelled as such wherever they are printed.

The judge reads the plan (texts, scene descriptions, palette, assets), not decoded
frames, and only the history of users who consented to personalization; history is
screened as the Director screens it, so no sensitive trait is read or sent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adloom import registry
from adloom.director.embeddings import Embedder
from adloom.director.profile import item_text, screen_history, visual_cues
from adloom.director.stages import data_message
from adloom.director.storyboard import WORDS_PER_S, line_limit
from adloom.domain import CreativePlan, Model, Product, User
from adloom.grounding import grounding_problem
from adloom.llm.client import ChatClient, EndpointSettings, LLMError, Usage
from adloom.llm.repair import RepairError, parse_json
from adloom.registry import Backend, BackendConfig
from adloom.verifier.personalization import closeness, palette_distance, plan_lines

Dimension = Literal[
    "personalization_presentation",
    "personalization_content",
    "product_alignment",
    "integration_quality",
    "diversity",
]
#: Dimensions scored per creative; diversity is scored per user, over their creatives.
PER_CREATIVE: tuple[Dimension, ...] = (
    "personalization_presentation",
    "personalization_content",
    "product_alignment",
    "integration_quality",
)
DIMENSIONS: tuple[Dimension, ...] = (*PER_CREATIVE, "diversity")


class Judgement(Model):
    dimension: Dimension
    score: float = Field(ge=0.0, le=10.0)
    rationale: str
    proxy: bool = Field(description="A measurement standing in for a judge's opinion.")
    judge: str


class Judge(ABC):
    """Scores creatives on the PCG dimensions."""

    name: ClassVar[str]

    @abstractmethod
    def judge(self, plan: CreativePlan, product: Product, user: User) -> list[Judgement]:
        """One judgement per dimension in :data:`PER_CREATIVE`, for ``user`` seeing ``plan``."""

    @abstractmethod
    def diversity(self, plans: Sequence[CreativePlan], user: User) -> Judgement:
        """How different ``user``'s creatives are from each other (two or more)."""

    def usage(self) -> Usage:
        """Tokens spent judging so far (none for measurements)."""
        return Usage()


def history_texts(user: User) -> list[str]:
    """What the judge may read of a user: screened history, only with consent."""
    if not user.consent.personalization:
        return []
    return [item_text(it) for it in screen_history(user.history).items]


def history_images(user: User) -> list[str]:
    if not user.consent.personalization:
        return []
    return [it.image for it in screen_history(user.history).items if it.image]


def plan_text(plan: CreativePlan) -> str:
    return ". ".join(line.text for line in plan_lines(plan))


# --------------------------------------------------------------------------- embedded


class EmbeddedJudgeConfig(BackendConfig):
    type: Literal["embedded"] = "embedded"
    embedder: str | dict[str, Any] = Field(
        "minilm", description="Embedder backend: a short name or a config with 'type'."
    )


class EmbeddedJudge(Judge, Backend[EmbeddedJudgeConfig]):
    """Proxies anyone can recompute; every judgement says ``proxy=True``."""

    name = "embedded"
    Config: ClassVar[type[BackendConfig]] = EmbeddedJudgeConfig

    def __init__(
        self, config: EmbeddedJudgeConfig | None = None, *, embedder: Embedder | None = None
    ) -> None:
        Backend.__init__(self, config)
        self._embedder = embedder

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            embedder: Embedder = registry.create("embedder", self.config.embedder, "minilm")
            self._embedder = embedder
        return self._embedder

    def _j(self, dimension: Dimension, score: float, rationale: str) -> Judgement:
        score = round(float(np.clip(score, 0.0, 10.0)), 2)
        return Judgement(
            dimension=dimension,
            score=score,
            rationale=f"proxy: {rationale}",
            proxy=True,
            judge=self.name,
        )

    def judge(self, plan: CreativePlan, product: Product, user: User) -> list[Judgement]:
        return [
            self.presentation(plan, user),
            self.content(plan, user),
            self.alignment(plan, product),
            self.integration(plan),
        ]

    def content(self, plan: CreativePlan, user: User) -> Judgement:
        """Each history item's best cosine with any line of the creative, averaged and
        calibrated: how much of what the user engages with the creative speaks to."""
        history = history_texts(user)
        lines = [ln.text for ln in plan_lines(plan)]
        if not history or not lines:
            return self._j("personalization_content", 0.0, "no consented history to compare")
        vecs = self.embedder.embed([*history, *lines])
        cos = vecs[: len(history)] @ vecs[len(history) :].T
        best = cos.max(axis=1)
        score = float(self.embedder.to_score(float(best.mean())))
        i = int(np.argmax(best))
        j = int(np.argmax(cos[i]))
        return self._j(
            "personalization_content",
            10 * score,
            f"history-to-creative text alignment {score:.2f} (closest: {history[i][:40]!r} ~ "
            f"{lines[j][:40]!r})",
        )

    def presentation(self, plan: CreativePlan, user: User) -> Judgement:
        """Colour closeness between the user's history images and the creative's palette,
        with credit for the user's own imagery as a backdrop."""
        images = history_images(user)
        cues = visual_cues(images) if images else None
        if cues is None or not cues.palette:
            return self._j(
                "personalization_presentation", 0.0, "no consented history images to compare"
            )
        colours = list(plan.palette)
        for scene in plan.scenes:
            colours += scene.background.colors
        delta = palette_distance(cues.palette, colours)
        near = closeness(delta) if delta is not None else 0.0
        own = any(s.background.kind == "image" for s in plan.scenes)
        score = 10 * (0.8 * near + (0.2 if own else 0.0))
        return self._j(
            "personalization_presentation",
            score,
            f"colour closeness {near:.2f} (mean ΔE {delta or 0:.0f} to the user's colours)"
            + ("; the user's own imagery as backdrop" if own else ""),
        )

    def alignment(self, plan: CreativePlan, product: Product) -> Judgement:
        """Claim coverage, grounded share, product imagery and logo."""
        values = [plan.matching.interest] if plan.matching.interest else []
        texts = plan.texts()
        grounded = sum(grounding_problem(t, product, values) is None for _, _, t in texts)
        share = grounded / len(texts) if texts else 0.0
        claims = {t.source_id for _, _, t in texts if t.source == "claim"}
        known = {c.id for c in product.verified_claims}
        coverage = len(claims & known) / len(known)
        images = {a.id for a in product.assets_of("product_image")}
        shown = any(set(s.asset_ids) & images for s in plan.scenes) if images else False
        logo = plan.logo_asset is not None and plan.logo_asset == (
            product.logo.id if product.logo else None
        )
        score = 10 * (0.4 * coverage + 0.4 * share + 0.1 * shown + 0.1 * logo)
        return self._j(
            "product_alignment",
            score,
            f"claim coverage {coverage:.0%}, grounded texts {share:.0%}, product image "
            f"{'shown' if shown else 'missing'}, logo {'shown' if logo else 'missing'}",
        )

    def integration(self, plan: CreativePlan) -> Judgement:
        """Fit to the serving context: slot lengths, legible lines, speakable narration,
        disclosure, and a CTA at the end."""
        limit = line_limit(plan.context)
        checks = {
            "slots 2-3 s": all(2.0 - 1e-6 <= s.duration_s <= 3.0 + 1e-6 for s in plan.scenes),
            "lines fit the frame": all(
                s.on_screen_text is None or len(s.on_screen_text.text) <= limit for s in plan.scenes
            ),
            "narration speakable": all(
                s.narration is None
                or len(s.narration.text.split()) <= WORDS_PER_S * s.duration_s + 1
                for s in plan.scenes
            ),
            "disclosure": bool(plan.disclosure.text.strip()),
            "ends on the CTA": plan.scenes[-1].role == "cta",
            "every scene says something": all(
                s.on_screen_text is not None or s.narration is not None for s in plan.scenes
            ),
        }
        passed = [k for k, ok in checks.items() if ok]
        failed = [k for k, ok in checks.items() if not ok]
        return self._j(
            "integration_quality",
            10 * len(passed) / len(checks),
            f"{len(passed)}/{len(checks)} context checks pass"
            + (f"; failing: {', '.join(failed)}" if failed else ""),
        )

    def diversity(self, plans: Sequence[CreativePlan], user: User) -> Judgement:
        if len(plans) < 2:
            raise ValueError("diversity needs two or more creatives")
        vecs = self.embedder.embed([plan_text(p) for p in plans])
        sims = vecs @ vecs.T
        n = len(plans)
        mean = float((sims.sum() - np.trace(sims)) / (n * (n - 1)))
        # Raw cosine, not the calibrated score: creatives of one brand are all "related"
        # on the calibrated scale, and diversity is about how related.
        dissimilarity = 1.0 - mean
        return self._j(
            "diversity",
            10 * dissimilarity,
            f"1 - mean pairwise cosine {mean:.2f} of the texts across {n} creatives",
        )


# --------------------------------------------------------------------------- openai

RUBRICS: dict[Dimension, str] = {
    "personalization_presentation": (
        "Rate how well the ad's presentation (tone, colours, visual style, pacing) matches "
        "what this viewer engages with in their history. 0: clashes or is generic; 5: "
        "partly in their style; 10: looks made for them."
    ),
    "personalization_content": (
        "Rate how well the ad's content (topics, scenes, appeal, the interest it leans on) "
        "speaks to this viewer's history. 0: unrelated; 5: touches one interest loosely; "
        "10: clearly about what they care about."
    ),
    "product_alignment": (
        "Rate how faithfully the ad presents the product: identity, brand elements, selling "
        "points, and only the listed verified claims (any claim not in the list is a major "
        "fault). 0: wrong or misleading; 10: accurate and complete."
    ),
    "integration_quality": (
        "Rate how well the ad fits where it runs (platform, format, duration): pacing of "
        "the scenes, legible short lines, a clear call to action at the end, the AI "
        "disclosure. 0: unusable there; 10: native to the placement."
    ),
    "diversity": (
        "Rate how different these ads for the same viewer are from each other in visual "
        "style, narrative structure, hooks, topics and scenes. 0: near copies; 10: each "
        "clearly distinct while staying on brand."
    ),
}


class ScoreReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: int = Field(ge=0, le=10)
    rationale: str = Field(max_length=2000)


SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 10},
        "rationale": {"type": "string", "maxLength": 300},
    },
    "required": ["score", "rationale"],
    "additionalProperties": False,
}


def creative_view(plan: CreativePlan) -> dict[str, Any]:
    """What a judge is shown of a creative: what a viewer would see and hear."""
    return {
        "context": {
            "platform": plan.context.platform,
            "aspect_ratio": plan.context.aspect_ratio,
            "duration_s": plan.context.duration_s,
        },
        "tone": plan.tone,
        "palette": plan.palette,
        "scenes": [
            {
                "role": s.role,
                "seconds": round(s.duration_s, 2),
                "on_screen": s.on_screen_text.text if s.on_screen_text else "",
                "spoken": s.narration.text if s.narration else "",
                "visual": s.visual_description,
                "background": s.background.kind,
            }
            for s in plan.scenes
        ],
        "call_to_action": plan.cta.text.text,
        "disclosure": plan.disclosure.text,
    }


class OpenAIJudgeConfig(EndpointSettings, BackendConfig):
    type: Literal["openai"] = "openai"
    max_repairs: int = Field(1, ge=0, le=5, description="Re-asks with the validation error.")
    max_tokens: int = Field(256, ge=16, le=4096, description="Completion tokens per call.")
    fallback: str | dict[str, Any] | None = Field(
        "embedded",
        description="Judge used (its judgements marked proxy) when the model fails; None "
        "to raise instead.",
    )


class OpenAIJudge(Judge, Backend[OpenAIJudgeConfig]):
    """A language model with adloom's rubrics; falls back to the proxies, labelled."""

    name = "openai"
    Config: ClassVar[type[BackendConfig]] = OpenAIJudgeConfig

    def __init__(
        self,
        config: OpenAIJudgeConfig | None = None,
        *,
        transport: Any | None = None,
        fallback: Judge | None = None,
    ) -> None:
        Backend.__init__(self, config)
        self.client = ChatClient(self.config, transport=transport)
        self._fallback = fallback
        self._usage = Usage()
        self.failures: list[str] = []

    @property
    def fallback(self) -> Judge | None:
        if self._fallback is None and self.config.fallback is not None:
            judge: Judge = registry.create("judge", self.config.fallback, "embedded")
            self._fallback = judge
        return self._fallback

    def usage(self) -> Usage:
        return self._usage

    def _score(
        self, dimension: Dimension, data: dict[str, Any], images: Sequence[str]
    ) -> Judgement:
        messages = data_message(
            RUBRICS[dimension] + " Reply with a score and a short rationale.", data
        )
        if self.config.vision and images:
            from adloom.director.openai import image_part

            parts = [p for p in (image_part(i) for i in images[: self.config.max_images]) if p]
            if parts:
                messages[-1] = {
                    "role": "user",
                    "content": [{"type": "text", "text": messages[-1]["content"]}, *parts],
                }
        error = "no reply"
        for _ in range(self.config.max_repairs + 1):
            done = self.client.complete(
                messages, campaign_id="judge", schema=SCORE_SCHEMA, schema_name=dimension
            )
            self._usage.add(done.usage)
            try:
                value, _ = parse_json(done.text)
                reply = ScoreReply.model_validate(value)
            except (RepairError, ValidationError) as exc:
                error = " ".join(str(exc).split())[:160]
                messages = [
                    *messages,
                    {"role": "assistant", "content": done.text[:2000]},
                    {"role": "user", "content": f"Invalid: {error}. Reply with the JSON only."},
                ]
                continue
            rationale = " ".join(reply.rationale.split())[:300] or "(no rationale given)"
            return Judgement(
                dimension=dimension,
                score=float(reply.score),
                rationale=rationale,
                proxy=False,
                judge=self.name,
            )
        raise LLMError(f"judge {dimension}: invalid reply: {error}")

    def _or_fallback(self, dimension: Dimension, attempt: Any, fallback: Any) -> Judgement:
        try:
            result: Judgement = attempt()
            return result
        except LLMError as exc:
            self.failures.append(str(exc))
            if self.fallback is None:
                raise
            j: Judgement = fallback()
            return j.model_copy(
                update={"rationale": f"judge failed ({exc}); {j.rationale}", "proxy": True}
            )

    def judge(self, plan: CreativePlan, product: Product, user: User) -> list[Judgement]:
        view = creative_view(plan)
        history = [t[:200] for t in history_texts(user)[:20]]
        images = history_images(user)
        product_data = {
            "name": product.name,
            "brand": product.brand,
            "category": product.category,
            "selling_points": product.selling_points,
            "verified_claims": [c.text for c in product.verified_claims],
        }
        data: dict[Dimension, tuple[dict[str, Any], Sequence[str]]] = {
            "personalization_presentation": ({"history": history, "ad": view}, images),
            "personalization_content": ({"history": history, "ad": view}, ()),
            "product_alignment": ({"product": product_data, "ad": view}, ()),
            "integration_quality": ({"ad": view}, ()),
        }
        out: list[Judgement] = []
        for dim in PER_CREATIVE:
            payload, imgs = data[dim]
            out.append(
                self._or_fallback(
                    dim,
                    lambda d=dim, p=payload, i=imgs: self._score(d, p, i),
                    lambda d=dim: next(
                        j
                        for j in self.fallback.judge(plan, product, user)  # type: ignore[union-attr]
                        if j.dimension == d
                    ),
                )
            )
        return out

    def diversity(self, plans: Sequence[CreativePlan], user: User) -> Judgement:
        if len(plans) < 2:
            raise ValueError("diversity needs two or more creatives")
        payload = {"ads": [creative_view(p) for p in plans]}
        return self._or_fallback(
            "diversity",
            lambda: self._score("diversity", payload, ()),
            lambda: self.fallback.diversity(plans, user),  # type: ignore[union-attr]
        )
