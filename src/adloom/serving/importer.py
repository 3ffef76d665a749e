"""Turning the pipeline's output (plan, creative, verdict, video) into servable records."""

from __future__ import annotations

from pathlib import Path

from adloom.domain import Creative, CreativePlan, Verdict
from adloom.errors import InputError
from adloom.io import parse, read_json
from adloom.store import CreativeRecord


def arm_of(plan: CreativePlan) -> str:
    """The bandit arm: per product, personalized vs generic, so the policy learns whether
    personalization pays in each context rather than about one user's single video."""
    return f"{plan.campaign_id}/{plan.product_id}/{plan.kind}"


def creative_record(
    advertiser_id: str, plan: CreativePlan, creative: Creative, verdict: Verdict, media: Path
) -> CreativeRecord:
    """A catalog record; the verdict must be about this creative and the video must exist."""
    if verdict.creative_id != creative.creative_id:
        raise InputError("verdict.creative_id", "does not match creative.creative_id")
    if creative.plan_id != plan.plan_id:
        raise InputError("creative.plan_id", "does not match plan.plan_id")
    if not media.is_file():
        raise InputError(media, "media file not found")
    return CreativeRecord(
        advertiser_id=advertiser_id,
        campaign_id=plan.campaign_id,
        product_id=plan.product_id,
        creative_id=creative.creative_id,
        user_id=plan.user_id if plan.kind == "personalized" else None,
        kind=plan.kind,
        arm=arm_of(plan),
        context=plan.context,
        creative=creative,
        decision=verdict.decision,
        media_path=str(media.resolve()),
    )


def load_output(advertiser_id: str, folder: Path) -> CreativeRecord:
    """Read one produced folder (``plan.json``, ``creative.json``, ``verdict.json``)."""
    plan = parse(CreativePlan, read_json(folder / "plan.json"), folder / "plan.json")
    creative = parse(Creative, read_json(folder / "creative.json"), folder / "creative.json")
    verdict = parse(Verdict, read_json(folder / "verdict.json"), folder / "verdict.json")
    media = Path(creative.path)
    if not media.is_absolute():
        media = folder / media
    return creative_record(advertiser_id, plan, creative, verdict, media)


def import_run(advertiser_id: str, out_dir: Path) -> list[CreativeRecord]:
    """Every distinct creative of a ``pipeline.run`` output folder (generic and per user).

    A user who fell back to generic has a folder that repeats the generic creative under
    the user's plan; serving already has that creative, so the folder is skipped.
    """
    folders = sorted(p.parent for p in Path(out_dir).glob("generic/*/verdict.json"))
    for path in sorted(Path(out_dir).glob("users/*/*/plan.json")):
        plan = read_json(path)
        if isinstance(plan, dict) and plan.get("kind") == "personalized":
            folders.append(path.parent)
    if not folders:
        raise InputError(out_dir, "no produced creatives (verdict.json) found")
    return [load_output(advertiser_id, f) for f in folders]
