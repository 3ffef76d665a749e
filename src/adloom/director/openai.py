"""The ``openai`` Director: planning with a language model behind any OpenAI-compatible
chat-completions endpoint (vLLM or Ollama serving Qwen-VL, a llama.cpp server, a hosted
API), stage by stage: user modeling, user-product matching, storyboard, asset grounding
(:mod:`.stages` holds each stage's request, schema and checks).

A plan from here has the same type, shape and guarantees as the embedded Director's:
every shown or spoken string is a verified claim or approved copy, a user without
consent gets the generic creative without any request being made, and a compatibility
below the threshold falls back to the generic creative. What the model adds is judgement
(which interest, which claims first, which lines in which scene, which colours).

Replies are parsed tolerantly (:mod:`adloom.llm.repair`), validated, and re-asked with
the error a bounded number of times; a stage that still fails, an endpoint that cannot
be reached or a spent token budget makes the embedded Director plan instead, and the
reason is recorded in the plan's notes and in the :class:`PlanTrace`.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError

from adloom import registry
from adloom.director.base import Planner, compatibility_threshold
from adloom.director.grounding import history_image
from adloom.director.profile import NO_CONSENT, NO_HISTORY, NO_USABLE_HISTORY, screen_history
from adloom.director.stages import (
    MAX_VISUAL_CHARS,
    GroundingReply,
    MatchOutcome,
    MatchReply,
    ProfileReply,
    Stage,
    StoryReply,
    allowed_colours,
    build_assets,
    build_match,
    build_profile,
    free_text_problem,
    generic_match,
    ground_text,
    grounding_request,
    matching_request,
    profile_request,
    screen_for_prompt,
    storyboard_request,
    text_options,
    usable_interests,
)
from adloom.director.storyboard import (
    MAX_ON_SCREEN_CHARS,
    WORDS_PER_S,
    line_limit,
    roles_for,
    slot_durations,
)
from adloom.domain import (
    CallToAction,
    Campaign,
    Context,
    CreativePlan,
    Directive,
    Disclosure,
    GroundedText,
    HistoryItem,
    Product,
    Scene,
    User,
    UserProfile,
)
from adloom.errors import AdloomError
from adloom.grounding import grounding_problem
from adloom.llm.client import ChatClient, EndpointSettings, LLMError, Message
from adloom.llm.fake import ReplyKind, ScriptedTransport
from adloom.llm.repair import RepairError, parse_json
from adloom.registry import Backend, BackendConfig

R = TypeVar("R", bound=BaseModel)
OutT = TypeVar("OutT")


class OpenAIPlannerConfig(EndpointSettings, BackendConfig):
    type: Literal["openai"] = "openai"
    fallback: str | dict[str, Any] = Field(
        "template", description="The embedded Director used when the model fails."
    )
    max_repairs: int = Field(
        1, ge=0, le=5, description="Re-asks per stage with the validation error."
    )
    min_compatibility: float | None = Field(
        None, ge=0.0, le=1.0, description="Overrides campaign.policy.min_compatibility."
    )
    max_interests: int = Field(4, ge=1, le=10)
    max_history: int = Field(20, ge=1, le=200, description="Most recent history items sent.")
    max_item_chars: int = Field(200, ge=20, le=2000, description="Per history title/text.")
    max_on_screen_chars: int = Field(MAX_ON_SCREEN_CHARS, ge=12, le=120)


class StageTrace(BaseModel):
    """One stage of one plan: requests, tokens and time, and what had to be fixed."""

    stage: Stage
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    request_s: float = Field(0.0, description="Time waiting on the endpoint.")
    check_s: float = Field(0.0, description="Time parsing, repairing and validating.")
    repairs: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)


class PlanTrace(BaseModel):
    """How a plan was made: per-stage cost and time, repairs, fallback and directives."""

    plan_id: str
    campaign_id: str
    planner: str
    stages: list[StageTrace] = Field(default_factory=list)
    fallback: str | None = Field(None, description="Why the embedded Director planned.")
    directives: list[Directive] = Field(
        default_factory=list, description="Model output removed by grounding, as directives."
    )
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    total_s: float = 0.0
    check_s: float = Field(0.0, description="Validation and repair time, all stages.")

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class StageError(AdloomError):
    """A stage's replies stayed invalid after the allowed re-asks."""


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        e = exc.errors()[0]
        loc = ".".join(str(p) for p in e["loc"]) or "reply"
        return f"{loc}: {e['msg']}"
    return " ".join(str(exc).split())[:200]


def image_part(path: str, max_side: int = 384) -> dict[str, Any] | None:
    """A history image as an ``image_url`` content part (downscaled PNG data URL)."""
    from PIL import Image

    try:
        with Image.open(path) as src:
            img = src.convert("RGB")
        img.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
    except (OSError, ValueError):
        return None
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


class OpenAIPlanner(Planner, Backend[OpenAIPlannerConfig]):
    """Plans with a language model, grounded and with the embedded Director as fallback."""

    name = "openai"  # type: ignore[misc]  # Planner declares it per instance, Backend per class
    Config: ClassVar[type[BackendConfig]] = OpenAIPlannerConfig

    def __init__(
        self,
        config: OpenAIPlannerConfig | None = None,
        *,
        transport: Any | None = None,
        fallback: Planner | None = None,
    ) -> None:
        Backend.__init__(self, config)
        self._transport = transport
        self._client: ChatClient | None = None
        self._fallback = fallback
        self._lock = threading.Lock()
        self.traces: deque[PlanTrace] = deque(maxlen=1024)

    # ------------------------------------------------------------------ components

    @property
    def client(self) -> ChatClient:
        with self._lock:
            if self._client is None:
                self._client = ChatClient(self.config, transport=self._transport)
            return self._client

    @property
    def fallback(self) -> Planner:
        """The embedded Director, created on first use (it may load a model)."""
        with self._lock:
            if self._fallback is None:
                planner: Planner = registry.create("planner", self.config.fallback, "template")
                self._fallback = planner
            return self._fallback

    @property
    def last_trace(self) -> PlanTrace | None:
        return self.traces[-1] if self.traces else None

    def threshold(self, campaign: Campaign) -> float:
        return compatibility_threshold(self.config.min_compatibility, campaign)

    # ------------------------------------------------------------------ one stage

    def _ask(
        self,
        stage: StageTrace,
        messages: list[Message],
        schema: dict[str, Any],
        reply_type: type[R],
        campaign_id: str,
        check: Callable[[R], OutT],
    ) -> OutT:
        """Request, parse, validate and check one stage; re-ask with the error."""
        error = "no reply"
        for _ in range(self.config.max_repairs + 1):
            done = self.client.complete(
                messages, campaign_id=campaign_id, schema=schema, schema_name=stage.stage
            )
            stage.calls += 1
            stage.prompt_tokens += done.usage.prompt_tokens
            stage.completion_tokens += done.usage.completion_tokens
            stage.request_s += done.latency_s
            started = time.perf_counter()
            try:
                value, repairs = parse_json(done.text)
                stage.repairs += repairs
                return check(reply_type.model_validate(value))
            except (RepairError, ValidationError, ValueError) as exc:
                error = _one_line(exc)
                if done.finish_reason == "length":
                    error += " (the reply was cut off at max_tokens)"
                stage.errors.append(error)
                messages = [
                    *messages,
                    {"role": "assistant", "content": done.text[:4000]},
                    {
                        "role": "user",
                        "content": f"That reply was invalid: {error}. Reply again with one "
                        "complete JSON object that follows the schema, and nothing else.",
                    },
                ]
            finally:
                stage.check_s += time.perf_counter() - started
        raise StageError(f"{stage.stage}: invalid reply after {stage.calls} attempt(s): {error}")

    # ------------------------------------------------------------------ Planner

    def profile(self, user: User, campaign: Campaign | None = None) -> UserProfile:
        trace = PlanTrace(
            plan_id="", campaign_id=campaign.id if campaign else "", planner=self.name
        )
        try:
            return self._profile(user, campaign.id if campaign else "default", trace)
        except (LLMError, StageError) as exc:
            fallback = self.fallback.profile(user, campaign)  # type: ignore[arg-type]
            fallback.reason += f"; profiled by the embedded Director ({_one_line(exc)})"
            return fallback

    def _profile(self, user: User, campaign_id: str, trace: PlanTrace) -> UserProfile:
        lang = user.demographics.language or "en"
        if not user.consent.personalization:
            why = "the user has not consented to personalization"
            return UserProfile(
                user_id=user.id,
                personalizable=False,
                reason=NO_CONSENT,
                language=lang,
                summary=f"Generic audience: {why}.",
            )
        if not user.history:
            return UserProfile(
                user_id=user.id,
                personalizable=False,
                reason=NO_HISTORY,
                language=lang,
                summary="Generic audience: the user has no interaction history yet.",
            )
        offset = max(0, len(user.history) - self.config.max_history)
        items, ids, flags = screen_for_prompt(screen_history(user.history[offset:], offset))
        if not items:
            return UserProfile(
                user_id=user.id,
                personalizable=False,
                reason=NO_USABLE_HISTORY,
                language=lang,
                summary="Generic audience: nothing in the user's history could be used.",
                flags=flags,
            )
        messages, schema = profile_request(
            items,
            ids,
            max_interests=self.config.max_interests,
            max_chars=self.config.max_item_chars,
        )
        if self.config.vision:
            messages = self._with_images(messages, items)
        stage = StageTrace(stage="profile")
        trace.stages.append(stage)
        return self._ask(
            stage,
            messages,
            schema,
            ProfileReply,
            campaign_id,
            lambda r: build_profile(
                r, user, items, ids, flags, max_interests=self.config.max_interests
            ),
        )

    def _with_images(self, messages: list[Message], items: Sequence[HistoryItem]) -> list[Message]:
        parts = [
            p
            for p in (image_part(it.image) for it in items if it.image and Path(it.image).is_file())
            if p is not None
        ][: self.config.max_images]
        if not parts:
            return messages
        last = messages[-1]
        content = [{"type": "text", "text": last["content"]}, *parts]
        return [*messages[:-1], {"role": last["role"], "content": content}]

    def plan(
        self,
        campaign: Campaign,
        product: Product,
        context: Context,
        user: User | None = None,
        profile: UserProfile | None = None,
        *,
        seed: int = 0,
    ) -> CreativePlan:
        return self.plan_traced(campaign, product, context, user, profile, seed=seed)[0]

    def plan_traced(
        self,
        campaign: Campaign,
        product: Product,
        context: Context,
        user: User | None = None,
        profile: UserProfile | None = None,
        *,
        seed: int = 0,
    ) -> tuple[CreativePlan, PlanTrace]:
        """The plan and how it was made (also appended to ``traces``)."""
        if user is not None and profile is not None and profile.user_id != user.id:
            raise AdloomError(f"profile is for user {profile.user_id!r}, not {user.id!r}")
        started = time.perf_counter()
        trace = PlanTrace(plan_id="", campaign_id=campaign.id, planner=self.name)
        try:
            plan = self._plan(campaign, product, context, user, profile, seed, trace)
        except (LLMError, StageError) as exc:
            trace.fallback = _one_line(exc)
            plan = self.fallback.plan(campaign, product, context, user, profile, seed=seed)
            plan = plan.model_copy(
                update={
                    "notes": [
                        *plan.notes,
                        f"fallback: planned by the embedded Director ({trace.fallback})",
                    ]
                }
            )
        trace.plan_id = plan.plan_id
        trace.prompt_tokens = sum(s.prompt_tokens for s in trace.stages)
        trace.completion_tokens = sum(s.completion_tokens for s in trace.stages)
        trace.cost = self.client.cost(trace.prompt_tokens, trace.completion_tokens)
        trace.check_s = sum(s.check_s for s in trace.stages)
        trace.total_s = time.perf_counter() - started
        self.traces.append(trace)
        return plan, trace

    def _plan(
        self,
        campaign: Campaign,
        product: Product,
        context: Context,
        user: User | None,
        profile: UserProfile | None,
        seed: int,
        trace: PlanTrace,
    ) -> CreativePlan:
        threshold = self.threshold(campaign)
        if user is not None and profile is None:
            profile = self._profile(user, campaign.id, trace)
        match = self._match(campaign, product, profile, threshold, trace)
        decision = match.decision
        personalized = decision.personalized and profile is not None
        interest = decision.interest if personalized else None
        style = profile.style[0].label if personalized and profile and profile.style else None
        tone = profile.tone if personalized and profile else "neutral"

        durations = slot_durations(context.duration_s, context.fps)
        roles = roles_for(len(durations))
        options = text_options(product, interest)
        max_chars = line_limit(context, self.config.max_on_screen_chars)
        notes: list[str] = [decision.rationale]
        directives = list(match.directives)

        messages, schema = storyboard_request(
            product,
            options,
            roles,
            durations,
            interest=interest,
            tone=tone,
            style=style,
            max_chars=max_chars,
        )

        def check_story(reply: StoryReply) -> tuple[list[Scene], GroundedText, list[Directive]]:
            if len(reply.scenes) != len(roles):
                raise ValueError(f"scenes: expected {len(roles)} items, got {len(reply.scenes)}")
            found: list[Directive] = []
            scenes: list[Scene] = []
            start = 0.0
            for i, (got, role, seconds) in enumerate(
                zip(reply.scenes, roles, durations, strict=True)
            ):
                shown = ground_text(
                    got.on_screen,
                    options,
                    scene_index=i,
                    field_name="on_screen_text",
                    directives=found,
                )
                if shown is not None and len(shown.text) > max_chars:
                    shown = None
                spoken = ground_text(
                    got.narration, options, scene_index=i, field_name="narration", directives=found
                )
                if spoken is not None and len(spoken.text.split()) > WORDS_PER_S * seconds + 1:
                    spoken = None
                visual = " ".join(got.visual.split())[:MAX_VISUAL_CHARS]
                problem = free_text_problem(visual, campaign.policy.prohibited_terms)
                if problem is not None or not visual:
                    if problem is not None:
                        found.append(
                            Directive(
                                target="director",
                                action="regenerate_scene",
                                scene_index=i,
                                reason=f"visual description dropped: it carries {problem}",
                            )
                        )
                    visual = f"{role.title()}: {product.name}" + (
                        f", styled around {interest}" if interest else ""
                    )
                scenes.append(
                    Scene(
                        index=i,
                        role=role,
                        start_s=round(start, 6),
                        duration_s=round(seconds, 6),
                        narration=spoken,
                        on_screen_text=shown,
                        visual_description=visual,
                        camera=got.camera,
                        transition_in="cut" if i == 0 else reply.transition,
                    )
                )
                start += seconds
            cta = ground_text(
                reply.cta, options, scene_index=None, field_name="cta", directives=found
            )
            if cta is None:
                cta = _default_cta(product, options, max_chars)
            return scenes, cta, found

        stage = StageTrace(stage="storyboard")
        trace.stages.append(stage)
        scenes, cta, found = self._ask(
            stage, messages, schema, StoryReply, campaign.id, check_story
        )
        directives += found

        colours = allowed_colours(product, profile, personalized)
        backdrop = (
            history_image(user, profile, interest) if personalized and profile is not None else None
        )
        messages, schema = grounding_request(product, roles, colours, backdrop=backdrop is not None)
        stage = StageTrace(stage="grounding")
        trace.stages.append(stage)
        assets = self._ask(
            stage,
            messages,
            schema,
            GroundingReply,
            campaign.id,
            lambda r: build_assets(r, scenes, product, colours, backdrop_image=backdrop),
        )
        directives += assets.directives
        trace.directives = directives
        notes += [f"grounding: {d.reason}" for d in directives]
        if any(s.background.kind == "image" for s in assets.scenes):
            notes.append("context scene: the user's own history image as backdrop")
        notes.append(
            "planned by a language model: "
            + ", ".join(f"{s.stage} {s.calls} call(s)" for s in trace.stages)
        )

        who = user.id if user is not None else (profile.user_id if profile else "generic")
        aspect = context.aspect_ratio.replace(":", "x")
        plan = CreativePlan(
            plan_id=f"{campaign.id}.{product.id}.{who}.{aspect}.{context.duration_s:g}s.s{seed}",
            campaign_id=campaign.id,
            product_id=product.id,
            user_id=who if personalized else None,
            kind="personalized" if personalized else "generic",
            profile_summary=profile.summary if personalized and profile else "",
            matching=decision,
            context=context,
            tone=tone,
            palette=assets.palette,
            logo_asset=product.logo.id if product.logo is not None else None,
            scenes=assets.scenes,
            cta=CallToAction(text=cta, url=product.landing_url),
            disclosure=Disclosure(text=campaign.policy.disclosure_text),
            seed=seed,
            planner=self.name,
            notes=notes,
        )
        values = [interest] if interest else []
        for _, where, item in plan.texts():
            problem = grounding_problem(item, product, values)
            if problem is not None:  # pragma: no cover - every text comes from the options
                raise StageError(f"grounding: {where}: {problem}")
        return plan

    def _match(
        self,
        campaign: Campaign,
        product: Product,
        profile: UserProfile | None,
        threshold: float,
        trace: PlanTrace,
    ) -> MatchOutcome:
        if profile is None:
            return generic_match(product, threshold, "no user given")
        if not profile.personalizable:
            return generic_match(product, threshold, profile.reason)
        interests = usable_interests(profile)
        if not interests:
            why = "sensitive interests only" if profile.interests else "no topical interest found"
            return generic_match(product, threshold, why)
        messages, schema = matching_request(interests, product)
        stage = StageTrace(stage="matching")
        trace.stages.append(stage)
        return self._ask(
            stage,
            messages,
            schema,
            MatchReply,
            campaign.id,
            lambda r: build_match(r, interests, product, threshold),
        )


def _default_cta(product: Product, options: Any, max_chars: int) -> GroundedText:
    """The first approved CTA line (or the shortest approved text) when the model's
    CTA was removed: a plan always has one."""
    ranked = sorted(
        options.by_text.items(),
        key=lambda kv: (options.roles[kv[0]] != "cta", len(kv[1].text) > max_chars),
    )
    return ranked[0][1]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- fake


class FakeLLMPlannerConfig(OpenAIPlannerConfig):
    type: Literal["fake-llm"] = "fake-llm"  # type: ignore[assignment]
    script: list[ReplyKind] = Field(
        default_factory=lambda: list[ReplyKind](["valid"]),
        description="Reply kinds, cycled: valid, fenced, truncated, prose, injected, "
        "http_429, http_500, timeout.",
    )
    script_seed: int = Field(0, description="Seed of the enum choices in valid replies.")


class FakeLLMPlanner(OpenAIPlanner):
    """The ``openai`` Director on a scripted endpoint (:mod:`adloom.llm.fake`): offline
    runs, demos of repair and fallback, and tests of everything but the model."""

    name = "fake-llm"  # type: ignore[misc]  # as for OpenAIPlanner
    Config: ClassVar[type[BackendConfig]] = FakeLLMPlannerConfig

    def __init__(
        self, config: FakeLLMPlannerConfig | None = None, *, fallback: Planner | None = None
    ) -> None:
        cfg = config if config is not None else FakeLLMPlannerConfig()
        self.transport = ScriptedTransport(cfg.script, seed=cfg.script_seed)
        super().__init__(cfg, transport=self.transport, fallback=fallback)
