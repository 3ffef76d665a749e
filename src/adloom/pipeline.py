"""The Personalized Creative Generation loop, assembled from injected components.

``AdPipeline`` takes a planner (Director), a renderer (Producer) and a verifier and runs
them over a campaign: one generic creative per product (the baseline personalization has
to beat), then one plan per (user, product) pair. A pair that falls back to generic (no
consent, no history, low compatibility) reuses the product's generic creative instead of
rendering a copy, and its plan says why.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from adloom import registry
from adloom.director.base import Planner
from adloom.domain import (
    Campaign,
    Context,
    Creative,
    CreativePlan,
    FairnessAudit,
    RefineResult,
    User,
    UserProfile,
    Verdict,
)
from adloom.errors import AdloomError
from adloom.io import write_model
from adloom.producer.base import Renderer
from adloom.verifier.base import Verifier

if TYPE_CHECKING:
    from adloom.reflector.base import Reflector

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


class PipelineSettings(BaseModel):
    """Which backend runs each stage; each entry is a short name or a backend config dict."""

    model_config = ConfigDict(extra="forbid")

    planner: str | dict[str, Any] = "template"
    renderer: str | dict[str, Any] = "template"
    verifier: str | dict[str, Any] = "full"
    reflector: str | dict[str, Any] | None = Field(
        "rules", description="Repairs creatives the verifier does not accept; None: no loop."
    )
    max_rounds: int = Field(3, ge=0, le=10, description="Revise rounds per creative at most.")
    workers: int = 2


@dataclass
class CreativeResult:
    """A rendered and verified creative with the files it was written to."""

    plan: CreativePlan
    creative: Creative
    verdict: Verdict
    directory: Path
    #: The revise rounds it went through (None when it was accepted as first made).
    refine: RefineResult | None = None


@dataclass
class PairResult:
    user_id: str
    product_id: str
    plan: CreativePlan
    result: CreativeResult
    reused_generic: bool


@dataclass
class RunResult:
    campaign: Campaign
    context: Context
    users: list[User]
    profiles: dict[str, UserProfile]
    generic: dict[str, CreativeResult]
    pairs: list[PairResult] = field(default_factory=list)
    audit: FairnessAudit | None = None

    def pair(self, user_id: str, product_id: str) -> PairResult:
        for p in self.pairs:
            if p.user_id == user_id and p.product_id == product_id:
                return p
        raise KeyError((user_id, product_id))


def relative_to(creative: Creative, directory: Path) -> Creative:
    """A copy of ``creative`` whose file paths are relative to ``directory``."""

    def rel(path: str | None) -> str | None:
        return None if path is None else os.path.relpath(path, directory)

    return creative.model_copy(
        update={"path": rel(creative.path), "thumbnail": rel(creative.thumbnail)}
    )


def reanchor(creative: Creative, old: Path, new: Path) -> Creative:
    """``creative`` with absolute paths under ``old`` moved under ``new``."""

    def move(path: str | None) -> str | None:
        if path is None or not Path(path).is_relative_to(old):
            return path
        return str(new / Path(path).relative_to(old))

    return creative.model_copy(
        update={"path": move(creative.path), "thumbnail": move(creative.thumbnail)}
    )


class AdPipeline:
    """Director -> Producer -> Verifier over a campaign; components are swappable."""

    def __init__(
        self,
        planner: Planner,
        renderer: Renderer,
        verifier: Verifier | None,
        reflector: Reflector | None = None,
        *,
        workers: int = 2,
        max_rounds: int = 3,
    ) -> None:
        if verifier is None:
            # Compliance is not optional in production; make switching it off loud.
            log.warning(
                "adloom pipeline built WITHOUT a verifier: creatives are not checked for "
                "grounding, disclosure or quality and must not be served"
            )
        self.planner = planner
        self.renderer = renderer
        self.verifier = verifier
        self.reflector = reflector
        self.workers = max(1, workers)
        self.max_rounds = max_rounds

    @classmethod
    def from_settings(cls, settings: PipelineSettings | None = None) -> AdPipeline:
        s = settings or PipelineSettings()
        return cls(
            registry.create("planner", s.planner, "template"),
            registry.create("renderer", s.renderer, "template"),
            registry.create("verifier", s.verifier, "full"),
            None if s.reflector is None else registry.create("reflector", s.reflector, "rules"),
            workers=s.workers,
            max_rounds=s.max_rounds,
        )

    @property
    def components(self) -> dict[str, Any]:
        return {
            "planner": self.planner,
            "renderer": self.renderer,
            "verifier": self.verifier,
            "reflector": self.reflector,
        }

    # ------------------------------------------------------------------ steps

    def produce(
        self,
        plan: CreativePlan,
        campaign: Campaign,
        directory: Path,
        profile: UserProfile | None = None,
        *,
        reference: CreativePlan | None = None,
    ) -> CreativeResult:
        """Render, verify and (if needed) repair one plan into ``directory``.

        The folder gets the final plan, video, thumbnail and verdict, plus ``refine.json``
        with every revise round when the first creative was not accepted.
        """
        directory.mkdir(parents=True, exist_ok=True)
        creative = self.renderer.render(
            plan, campaign, directory / "creative.mp4", thumbnail_path=directory / "thumbnail.png"
        )
        refined: RefineResult | None = None
        if self.verifier is None:
            verdict = Verdict(
                creative_id=creative.creative_id,
                plan_id=plan.plan_id,
                decision="revise",
                checks=[],
                rationale="not verified: the pipeline has no verifier",
                verifier="none",
            )
        else:
            verdict = self.verifier.verify(creative, plan, campaign, profile, reference=reference)
            if verdict.decision != "accept" and self.reflector is not None and self.max_rounds:
                from adloom.reflector.loop import refine

                done = refine(
                    plan,
                    creative,
                    verdict,
                    campaign=campaign,
                    renderer=self.renderer,
                    verifier=self.verifier,
                    reflector=self.reflector,
                    out_path=directory / "creative.mp4",
                    profile=profile,
                    reference=reference,
                    max_rounds=self.max_rounds,
                )
                plan, creative, verdict, refined = (
                    done.plan,
                    done.creative,
                    done.verdict,
                    done.result,
                )
                write_model(directory / "refine.json", refined)
        write_model(directory / "plan.json", plan)
        # On disk, file paths are relative to the record so the folder can be moved.
        write_model(directory / "creative.json", relative_to(creative, directory))
        write_model(directory / "verdict.json", verdict)
        return CreativeResult(plan, creative, verdict, directory, refined)

    def run(
        self,
        campaign: Campaign,
        users: Sequence[User],
        out_dir: Path,
        *,
        context: Context | None = None,
        seed: int = 0,
        progress: Progress | None = None,
    ) -> RunResult:
        """Plan, render and verify every (user, product) pair plus the generic baselines.

        Steps: 1. validate the audience, 2. model each user, 3. generic creative per
        product, 4. plan each pair, 5. render, verify and repair the personalized plans,
        6. audit the served variants for fairness.
        """
        with self._scene_cache():
            return self._run(
                campaign, users, out_dir, context=context, seed=seed, progress=progress
            )

    @contextmanager
    def _scene_cache(self) -> Iterator[None]:
        """A scene cache for the run when the renderer has one but none is configured.

        Revise rounds then re-encode only the scenes a directive changed; the cache lives
        as long as the run, so nothing is left behind.
        """
        config = getattr(self.renderer, "config", None)
        if config is None or "scene_cache" not in type(config).model_fields:
            yield
            return
        if config.scene_cache is not None:
            yield
            return
        with tempfile.TemporaryDirectory(prefix="adloom-scenes-") as folder:
            self.renderer.config = config.model_copy(update={"scene_cache": Path(folder)})  # type: ignore[attr-defined]
            try:
                yield
            finally:
                self.renderer.config = config  # type: ignore[attr-defined]

    def _run(
        self,
        campaign: Campaign,
        users: Sequence[User],
        out_dir: Path,
        *,
        context: Context | None,
        seed: int,
        progress: Progress | None,
    ) -> RunResult:
        tick = progress or (lambda _msg: None)
        ctx = context or campaign.contexts[0]
        # 1. audience
        if campaign.audience.user_ids is not None:
            wanted = set(campaign.audience.user_ids)
            users = [u for u in users if u.id in wanted]
        if not users:
            raise AdloomError("no users to plan for (check the users file and campaign.audience)")
        # 2. profiles
        profiles: dict[str, UserProfile] = {}
        for user in users:
            profiles[user.id] = self.planner.profile(user, campaign)
            write_model(out_dir / "users" / user.id / "profile.json", profiles[user.id])
            tick(f"profiled {user.id}")
        result = RunResult(campaign, ctx, list(users), profiles, generic={})
        # 3. generic baselines
        generic_plans = {
            p.id: self.planner.plan(campaign, p, ctx, None, None, seed=seed)
            for p in campaign.products
        }
        # 4. pair plans
        todo: list[tuple[User, str, CreativePlan]] = []
        for user in users:
            for product in campaign.products:
                plan = self.planner.plan(campaign, product, ctx, user, profiles[user.id], seed=seed)
                todo.append((user, product.id, plan))
                tick(f"planned {user.id} x {product.id}")
        # 5. render + verify, generic first (fallback pairs reuse them)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            gen_futs = {
                pid: pool.submit(self.produce, plan, campaign, out_dir / "generic" / pid)
                for pid, plan in generic_plans.items()
            }
            pair_futs = {
                (user.id, pid): pool.submit(
                    self.produce,
                    plan,
                    campaign,
                    out_dir / "users" / user.id / pid,
                    profiles[user.id],
                    reference=generic_plans[pid],
                )
                for user, pid, plan in todo
                if plan.kind == "personalized"
            }
            for pid, fut in gen_futs.items():
                result.generic[pid] = fut.result()
                tick(f"rendered generic {pid}")
            for user, pid, plan in todo:
                if plan.kind == "personalized":
                    res = pair_futs[(user.id, pid)].result()
                    reused = False
                else:
                    res = self._reuse_generic(
                        result.generic[pid], plan, out_dir / "users" / user.id / pid
                    )
                    reused = True
                result.pairs.append(PairResult(user.id, pid, res.plan, res, reused))
                tick(f"rendered {user.id} x {pid}")
        # 6. fairness across the variants actually served
        if self.verifier is not None:
            result.audit = self.verifier.audit(
                [p.result.plan for p in result.pairs], result.users, campaign
            )
            write_model(out_dir / "audit.json", result.audit)
        return result

    @staticmethod
    def _reuse_generic(
        generic: CreativeResult, plan: CreativePlan, directory: Path
    ) -> CreativeResult:
        """Link the product's generic creative into the pair's folder with the pair's plan."""
        directory.mkdir(parents=True, exist_ok=True)
        write_model(directory / "plan.json", plan)
        for name in (
            "creative.mp4",
            "thumbnail.png",
            "creative.json",
            "verdict.json",
            "refine.json",
        ):
            src = generic.directory / name
            if not src.exists():
                continue
            dst = directory / name
            dst.unlink(missing_ok=True)
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
        return CreativeResult(plan, generic.creative, generic.verdict, directory, generic.refine)

    def total_steps(self, campaign: Campaign, users: Sequence[User]) -> int:
        n_users, n_products = len(users), len(campaign.products)
        return n_users + n_products + 2 * n_users * n_products
