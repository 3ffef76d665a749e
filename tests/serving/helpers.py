"""Serving test data: a catalog of plans and creatives built without rendering.

Plans come from the real template planner (hashing embedder, so it is fast); the videos
are tiny stand-in files, since serving never decodes them. Every creative, plan and
verdict goes through the same validation as a real pipeline output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from adloom.director.template import TemplatePlanner
from adloom.domain import Box, Campaign, Creative, CreativePlan, User, Verdict
from adloom.serving.catalog import key_hash
from adloom.serving.importer import creative_record
from adloom.serving.settings import ServeSettings
from adloom.store import Advertiser, CampaignRecord, ConsentRecord, CreativeRecord, Store

API_KEY = "adl_test_key_one"
OTHER_KEY = "adl_test_key_two"
ADMIN_KEY = "admin-secret"


def fake_creative(plan: CreativePlan, media: Path, *, tag: str = "") -> Creative:
    w, h = plan.context.size
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42" + plan.plan_id.encode())
    return Creative(
        creative_id=f"cr-{plan.plan_id}{tag}"[:64],
        plan_id=plan.plan_id,
        path=str(media),
        width=w,
        height=h,
        fps=float(plan.context.fps),
        duration_s=plan.context.duration_s,
        frame_count=int(plan.context.duration_s * plan.context.fps),
        sha256="0" * 64,
        seed=plan.seed,
        renderer="template",
        disclosure_text="AI-generated",
        disclosure_box=Box(x=10, y=10, w=120, h=30),
        provenance="c2pa",
    )


def verdict_for(creative: Creative, decision: Literal["accept", "revise", "reject"]) -> Verdict:
    return Verdict(
        creative_id=creative.creative_id,
        plan_id=creative.plan_id,
        decision=decision,
        checks=[],
        rationale=f"test verdict: {decision}",
    )


@dataclass
class Built:
    plan: CreativePlan
    creative: Creative
    verdict: Verdict
    record: CreativeRecord


@dataclass
class Catalog:
    campaign: Campaign
    users: list[User]
    built: list[Built]
    tmp: Path

    def record(
        self, kind: str, product: str, aspect: str = "16:9", user: str | None = None
    ) -> CreativeRecord:
        for b in self.built:
            r = b.record
            if (r.kind, r.product_id, r.context.aspect_ratio, r.user_id) == (
                kind,
                product,
                aspect,
                user,
            ):
                return r
        raise KeyError((kind, product, aspect, user))


def build(
    planner: TemplatePlanner,
    campaign: Campaign,
    users: list[User],
    tmp: Path,
    advertiser: str = "acme",
) -> Catalog:
    """Generic plans per product and aspect; personalized ones for ``hiker``."""
    built: list[Built] = []

    def add(plan: CreativePlan, decision: Literal["accept", "revise", "reject"] = "accept") -> None:
        creative = fake_creative(plan, tmp / "media" / f"{plan.plan_id}.mp4")
        verdict = verdict_for(creative, decision)
        rec = creative_record(advertiser, plan, creative, verdict, Path(creative.path))
        built.append(Built(plan, creative, verdict, rec))

    for aspect in ("16:9", "9:16"):
        ctx = campaign.contexts[0].model_copy(update={"aspect_ratio": aspect})
        for product in campaign.products:
            add(planner.plan(campaign, product, ctx))
    ctx = campaign.contexts[0]
    for user in users:
        if user.id != "hiker":
            continue
        for product in campaign.products:
            plan = planner.plan(campaign, product, ctx, user)
            if plan.kind != "personalized":  # serving only reads kind and owner
                plan = plan.model_copy(
                    update={
                        "kind": "personalized",
                        "user_id": user.id,
                        "plan_id": f"{plan.plan_id}-{user.id}",
                    }
                )
            add(plan)
    return Catalog(campaign, users, built, tmp)


def seed_store(store: Store, cat: Catalog, advertiser: str = "acme", key: str = API_KEY) -> None:
    store.put(Advertiser(id=advertiser, name=advertiser.title(), key_hashes=[key_hash(key)]))
    store.put(CampaignRecord(advertiser_id=advertiser, campaign=cat.campaign))
    for user in cat.users:
        store.put(
            ConsentRecord(
                advertiser_id=advertiser,
                user_id=user.id,
                personalization=user.consent.personalization,
            )
        )
    for b in cat.built:
        store.put(b.record)


def settings(**over: Any) -> ServeSettings:
    base: dict[str, Any] = {
        "store": {"type": "sqlite", "path": ":memory:"},
        "counters": "memory",
        "policy": {"type": "thompson", "exploration": 0.1, "seed": 7},
        "base_url": "http://ads.test",
        "signing_keys": {"k1": "test-signing-secret"},
        "admin_key": ADMIN_KEY,
        "buffer": {"interval_s": 0.05},
    }
    base.update(over)
    return ServeSettings.model_validate(base)
