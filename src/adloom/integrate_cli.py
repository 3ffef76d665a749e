"""``adloom integrate``: weave a segment into a host video (a thin layer over
:func:`adloom.integrate.integrate`); errors print one line and exit 2.

It imports nothing from :mod:`adloom.cli` at module level (the CLI imports it), and is
wrapped in ``fails_cleanly`` where it is registered.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from adloom.domain import Campaign, User
from adloom.errors import InputError

out = Console()


def say(text: str) -> None:
    out.print(text, highlight=False, soft_wrap=True)


def integrate_command(
    host: Annotated[Path, typer.Option("--host", help="The host video (MP4, H.264); only read.")],
    campaign_file: Annotated[Path, typer.Option("--campaign", "-c", help="Campaign JSON file.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/pci"),
    product: Annotated[str | None, typer.Option(help="Product id (default: the first).")] = None,
    users_file: Annotated[Path | None, typer.Option("--users", "-u", help="Users JSON.")] = None,
    user: Annotated[
        str | None, typer.Option(help="User id; omit (or no consent) for a generic segment.")
    ] = None,
    segment_s: Annotated[float, typer.Option(help="Segment length in seconds (5-60).")] = 6.0,
    verifier: Annotated[str, typer.Option(help="Verifier backend: full or basic.")] = "full",
    embedder: Annotated[
        str, typer.Option(help="Embedder for semantic fit: minilm or hashing.")
    ] = "minilm",
    baseline: Annotated[
        bool, typer.Option(help="Also weave the generic midpoint integration for comparison.")
    ] = True,
    at: Annotated[
        float | None,
        typer.Option("--at", help="Integrate at this second of the host, overriding the choice."),
    ] = None,
    vast_url: Annotated[
        str | None,
        typer.Option(help="Where segment.vast.xml will be served; the VMAP then links to it."),
    ] = None,
    seed: int = 0,
) -> None:
    """Weave a personalized segment into a host video at a natural moment (PCI)."""
    from adloom.cli import _find_user, _product
    from adloom.director.integration import IntegrationSettings
    from adloom.integrate import FILES, IntegrateSettings, integrate
    from adloom.io import load_campaign, load_users

    campaign = load_campaign(campaign_file)
    prod = campaign.products[0] if product is None else _product(campaign, product, campaign_file)
    the_user = None
    if user is not None:
        if users_file is None:
            raise InputError("--users", "required with --user")
        the_user = _find_user(load_users(users_file), user, users_file)
    if not 5.0 <= segment_s <= 60.0:
        raise InputError("--segment-s", f"{segment_s:g}s is outside 5-60s")
    settings = IntegrateSettings(
        verifier=verifier,
        segment_s=segment_s,
        baseline=baseline,
        vast_url=vast_url,
        at_s=at,
        decision=IntegrationSettings(embedder=embedder),
    )
    report = integrate(host, campaign, prod, out_dir, user=the_user, settings=settings, seed=seed)
    p, q = report.decision.point, report.quality
    say(f"host: {report.host.summary.content}; {report.host.summary.audio}")
    say(f"integration at {p.time_s:.2f}s (frame {p.frame}, {p.kind}): {report.decision.rationale}")
    say(
        f"segment: {report.plan.kind}, {report.segment.duration_s:.1f}s; continuity in "
        f"{q.cut_in.continuity:.2f} / out {q.cut_out.continuity:.2f}, share {q.share:.0%}"
    )
    if report.baseline is not None:
        b = report.baseline
        say(
            f"generic midpoint baseline: continuity in {b.cut_in.continuity:.2f} / out "
            f"{b.cut_out.continuity:.2f}"
        )
    say(f"verdict: {report.verdict.decision} ({report.verdict.rationale})")
    say(
        f"wrote {out_dir / FILES['woven']}, {FILES['segment']}, {FILES['vast']}, "
        f"{FILES['vmap']} and {FILES['report']}"
    )


def print_demo(campaign: Campaign, users: list[User], out_dir: Path) -> None:
    """The demo's PCI section: weave into a sample host and say how it went."""
    from adloom.demo import run_pci

    started = time.perf_counter()
    report = run_pci(campaign, users, out_dir)
    p, q, b = report.decision.point, report.quality, report.baseline
    say(
        f"PCI: {report.plan.kind} segment woven into a {report.host.duration_s:.0f}s sample host "
        f"at {p.time_s:.2f}s ({p.kind.replace('_', ' ')}) in {time.perf_counter() - started:.1f}s; "
        f"continuity {min(q.cut_in.continuity, q.cut_out.continuity):.2f}"
        + (f" vs {min(b.cut_in.continuity, b.cut_out.continuity):.2f} at the midpoint" if b else "")
        + f"; verdict {report.verdict.decision}"
    )
    say(f"  {report.woven_path} (VMAP: {report.vmap_path})")
