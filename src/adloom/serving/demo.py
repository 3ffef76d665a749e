"""``adloom serve --demo``: the bundled sample campaign, rendered, verified and served.

The first start renders and verifies every sample creative (a minute or two on two
cores) into the data folder; later starts reuse them. A demo advertiser gets an API key
that is kept in the data folder, so the same key works across restarts.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from adloom.domain import Campaign, Context, User
from adloom.io import atomic_dir, write_text
from adloom.serving.catalog import key_hash
from adloom.serving.importer import import_run
from adloom.serving.prerender import Job, RenderFn
from adloom.store import Advertiser, CampaignRecord, ConsentRecord, CreativeRecord, Store

DEMO_ADVERTISER = "demo"


@dataclass
class DemoSetup:
    advertiser_id: str
    api_key: str
    campaign_id: str
    user_ids: list[str]
    creatives: int
    accepted: int


def _demo_key(data_dir: Path) -> str:
    path = data_dir / "demo-api-key.txt"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    key = "adl_" + secrets.token_urlsafe(24)
    write_text(path, key + "\n")
    os.chmod(path, 0o600)
    return key


def render_sample(out_dir: Path, campaign: Campaign, users: Sequence[User]) -> None:
    """Render and verify the sample into ``out_dir`` unless a complete run is there."""
    from adloom.demo import run_campaign

    if (out_dir / "index.html").is_file():
        return
    run_campaign(campaign, list(users), out_dir)


def prepare(
    store: Store,
    data_dir: Path,
    *,
    campaign: Campaign | None = None,
    users: Sequence[User] | None = None,
) -> DemoSetup:
    """Make the demo advertiser, campaign, consents and creatives exist in ``store``."""
    from adloom.demo import load_sample

    if campaign is None or users is None:
        campaign, users = load_sample()
    data_dir.mkdir(parents=True, exist_ok=True)
    out_dir = data_dir / "creatives"
    render_sample(out_dir, campaign, users)
    key = _demo_key(data_dir)
    store.put(Advertiser(id=DEMO_ADVERTISER, name="adloom demo", key_hashes=[key_hash(key)]))
    if store.get(CampaignRecord, campaign.id, advertiser_id=DEMO_ADVERTISER) is None:
        store.put(CampaignRecord(advertiser_id=DEMO_ADVERTISER, campaign=campaign))
    for user in users:
        store.put(
            ConsentRecord(
                advertiser_id=DEMO_ADVERTISER,
                user_id=user.id,
                personalization=user.consent.personalization,
                analytics=user.consent.analytics,
            )
        )
    records = import_run(DEMO_ADVERTISER, out_dir)
    for rec in records:
        store.put(rec)
    return DemoSetup(
        advertiser_id=DEMO_ADVERTISER,
        api_key=key,
        campaign_id=campaign.id,
        user_ids=[u.id for u in users],
        creatives=len(records),
        accepted=sum(r.decision == "accept" for r in records),
    )


def pipeline_renderer(campaign: Campaign, users: Sequence[User], work_dir: Path) -> RenderFn:
    """A pre-render function that runs the whole loop for one user in a new context."""
    by_id = {u.id: u for u in users}

    def render(job: Job) -> list[CreativeRecord]:
        from adloom.pipeline import AdPipeline

        user = by_id.get(job.user_id)
        if user is None or job.campaign_id != campaign.id:
            return []
        context = campaign.contexts[0].model_copy(update={"aspect_ratio": job.aspect_ratio})
        Context.model_validate(context.model_dump())
        dest = work_dir / "prerender" / f"{job.user_id}-{job.aspect_ratio.replace(':', 'x')}"
        with atomic_dir(dest) as tmp:
            AdPipeline.from_settings().run(campaign, [user], tmp, context=context)
        records = import_run(job.advertiser_id, dest)
        return [r for r in records if r.kind == "personalized" or r.context == context]

    return render
