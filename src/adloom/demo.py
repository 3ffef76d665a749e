"""The bundled sample campaign and the one-command demo over it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from adloom.domain import Campaign, IntegrationReport, User
from adloom.io import atomic_dir, load_campaign, load_users
from adloom.pipeline import AdPipeline, PipelineSettings, Progress, RunResult, reanchor
from adloom.report import write_index, write_summary


def sample_dir() -> Path:
    return Path(str(resources.files("adloom") / "sample"))


def load_sample() -> tuple[Campaign, list[User]]:
    base = sample_dir()
    return load_campaign(base / "campaign.json"), load_users(base / "users.json")


@dataclass
class DemoResult:
    out_dir: Path
    index: Path
    run: RunResult


def run_campaign(
    campaign: Campaign,
    users: list[User],
    out_dir: Path,
    *,
    settings: PipelineSettings | None = None,
    pipeline: AdPipeline | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Run the whole loop into ``out_dir``, built aside and swapped in only when complete."""
    pipe = pipeline or AdPipeline.from_settings(settings)
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        run = pipe.run(campaign, users, tmp, progress=progress)
        write_summary(run, tmp)
        write_index(run, tmp)
    # Paths recorded during the run point into the temporary folder; re-anchor them.
    for res in [*run.generic.values(), *(p.result for p in run.pairs)]:
        res.directory = out_dir / res.directory.relative_to(tmp)
        res.creative = reanchor(res.creative, tmp, out_dir)
    return DemoResult(out_dir, out_dir / "index.html", run)


def run_pci(
    campaign: Campaign,
    users: list[User],
    out_dir: Path,
    *,
    verifier: str = "full",
) -> IntegrationReport:
    """PCI on a sample host video adloom makes itself: the first product woven in for the
    first user who consented to personalization (a generic segment when nobody did).

    The host (16 s, four shots) goes to ``out_dir/host.mp4`` and the integration into
    ``out_dir/woven``; ``adloom integrate`` does the same for any host.
    """
    from adloom.integrate import IntegrateSettings, integrate
    from adloom.producer.hostgen import DEMO_SHOTS, make_host_video

    out_dir = Path(out_dir)
    host = make_host_video(out_dir / "host.mp4", shots=DEMO_SHOTS, size=(320, 180))
    user = next((u for u in users if u.consent.personalization), None)
    settings = IntegrateSettings(verifier=verifier, segment_s=5.0)
    return integrate(
        host, campaign, campaign.products[0], out_dir / "woven", user=user, settings=settings
    )
