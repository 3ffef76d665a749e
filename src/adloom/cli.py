"""Command line: a thin layer over library calls. Errors print one line and exit 2."""

from __future__ import annotations

if __name__ == "__main__":  # pragma: no cover - ``python -m adloom.cli``
    # Run the importable module rather than this file as a second copy: the sub-commands
    # import their helpers from ``adloom.cli`` and would find it half-built.
    import importlib

    raise SystemExit(importlib.import_module("adloom.cli").app())

import json
import sys
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adloom.domain import SCHEMAS, Context, User
from adloom.errors import AdloomError, InputError

app = typer.Typer(
    name="adloom",
    help="Generative, personalized advertising: plan, render and verify ad creatives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
out = Console()

F = TypeVar("F", bound=Callable[..., Any])


def fails_cleanly(fn: F) -> F:
    """Turn adloom's own errors into one line on stderr and exit code 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AdloomError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[step]}"),
        console=err,
        transient=False,
    )


CampaignOpt = Annotated[Path, typer.Option("--campaign", "-c", help="Campaign JSON file.")]
UsersOpt = Annotated[Path | None, typer.Option("--users", "-u", help="Users JSON file.")]


@app.command()
@fails_cleanly
def demo(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/demo"),
    workers: Annotated[int, typer.Option(help="Parallel render/verify workers.")] = 2,
    campaign_file: Annotated[
        Path | None, typer.Option("--campaign", help="Use this campaign instead of the sample.")
    ] = None,
    users_file: Annotated[
        Path | None, typer.Option("--users", help="Users for --campaign.")
    ] = None,
    pci: Annotated[
        bool, typer.Option(help="Also weave a segment into a sample host video (PCI).")
    ] = True,
) -> None:
    """Run the whole loop on the bundled sample campaign (or your own files)."""
    from adloom.demo import load_sample, run_campaign
    from adloom.io import load_campaign, load_users
    from adloom.pipeline import AdPipeline, PipelineSettings

    if campaign_file is not None:
        if users_file is None:
            raise InputError("--users", "required with --campaign")
        campaign, users = load_campaign(campaign_file), load_users(users_file)
    else:
        campaign, users = load_sample()
    started = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("loading models", total=None, step="")
        pipeline = AdPipeline.from_settings(PipelineSettings(workers=workers))
        pipeline.planner.profile(users[0], campaign)  # warm the embedding model once
        bar.update(task, description="adloom demo", total=pipeline.total_steps(campaign, users))
        result = run_campaign(
            campaign,
            users,
            out_dir,
            pipeline=pipeline,
            progress=lambda msg: bar.update(task, advance=1, step=msg),
        )
    run = result.run
    decisions: dict[str, int] = {}
    for res in [*run.generic.values(), *(p.result for p in run.pairs if not p.reused_generic)]:
        decisions[res.verdict.decision] = decisions.get(res.verdict.decision, 0) + 1
    personalized = sum(not p.reused_generic for p in run.pairs)
    refined = [
        r
        for r in [*run.generic.values(), *(p.result for p in run.pairs if not p.reused_generic)]
        if r.refine is not None
    ]
    out.print(
        f"[bold green]done[/] in {time.perf_counter() - started:.1f}s: "
        f"{len(run.users)} users x {len(campaign.products)} products, "
        f"{personalized} personalized + {len(run.generic)} generic creatives, "
        f"verdicts {decisions}"
    )
    if refined:
        fixed = sum(r.verdict.decision == "accept" for r in refined)
        out.print(f"  {len(refined)} creatives revised by the Reflector, {fixed} now accepted")
    if run.audit is not None:
        verdict = "passed" if run.audit.passed else f"{len(run.audit.findings)} findings"
        out.print(f"  fairness audit: {verdict}")
    for p in run.pairs:
        if p.reused_generic and p.product_id == campaign.products[0].id:
            why = p.plan.matching.rationale.removeprefix("generic: ")
            out.print(f"  {p.user_id}: generic creative — {why}")
    if pci:
        from adloom.integrate_cli import print_demo

        print_demo(campaign, users, out_dir / "pci")
    out.print(f"open {result.index}")


def _find_user(users: list[User], user_id: str, where: Path) -> User:
    for u in users:
        if u.id == user_id:
            return u
    raise InputError(where, f"no user with id {user_id!r}")


def _context(base: Context, aspect_ratio: str | None, duration: float | None) -> Context:
    from adloom.io import parse

    data = base.model_dump()
    if aspect_ratio is not None:
        data["aspect_ratio"] = aspect_ratio
    if duration is not None:
        data["duration_s"] = duration
    return parse(Context, data, "--aspect-ratio/--duration")


def backend_spec(value: str, option: str) -> str | dict[str, Any]:
    """A short name, or a JSON file holding a backend config (with ``type``)."""
    path = Path(value)
    if value.endswith(".json") or path.is_file():
        from adloom.io import read_json

        data = read_json(path)
        if not isinstance(data, dict) or "type" not in data:
            raise InputError(path, f"{option}: expected a JSON object with a 'type'")
        return data
    return value


def _emit(text: str, dest: Path | None) -> None:
    from adloom.io import write_text

    if dest is None:
        sys.stdout.write(text + "\n")
    else:
        write_text(dest, text + "\n")
        err.print(f"wrote {dest}")


@app.command()
@fails_cleanly
def plan(
    campaign_file: CampaignOpt,
    product: Annotated[str | None, typer.Option(help="Product id (default: the first).")] = None,
    users_file: UsersOpt = None,
    user: Annotated[str | None, typer.Option(help="User id; omit for the generic plan.")] = None,
    aspect_ratio: Annotated[str | None, typer.Option(help="16:9 or 9:16.")] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    seed: int = 0,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the plan here.")
    ] = None,
    planner_spec: Annotated[
        str,
        typer.Option(
            "--planner",
            help="Director: template (embedded), openai, or a JSON config file "
            "(e.g. an OpenAI-compatible endpoint's base_url and model).",
        ),
    ] = "template",
) -> None:
    """Write a CreativePlan (JSON) for one user and product, or the generic plan."""
    from adloom import registry
    from adloom.io import load_campaign, load_users

    campaign = load_campaign(campaign_file)
    prod = campaign.products[0] if product is None else _product(campaign, product, campaign_file)
    ctx = _context(campaign.contexts[0], aspect_ratio, duration)
    the_user = None
    if user is not None:
        if users_file is None:
            raise InputError("--users", "required with --user")
        the_user = _find_user(load_users(users_file), user, users_file)
    planner = registry.create("planner", backend_spec(planner_spec, "--planner"), "template")
    result = planner.plan(campaign, prod, ctx, the_user, seed=seed)
    _emit(result.model_dump_json(indent=2), out_file)


def _product(campaign: Any, product_id: str, where: Path) -> Any:
    try:
        return campaign.product(product_id)
    except KeyError:
        ids = ", ".join(p.id for p in campaign.products)
        raise InputError(where, f"no product with id {product_id!r} (have: {ids})") from None


@app.command()
@fails_cleanly
def render(
    plan_file: Annotated[Path, typer.Argument(help="CreativePlan JSON.")],
    campaign_file: CampaignOpt,
    out_file: Annotated[Path, typer.Option("--out", "-o", help="MP4 to write.")] = Path(
        "creative.mp4"
    ),
    renderer: Annotated[str, typer.Option(help="Renderer backend.")] = "template",
) -> None:
    """Render a plan to an MP4 (plus a thumbnail and a creative.json record beside it)."""
    from adloom import registry
    from adloom.grounding import grounding_problem
    from adloom.io import load_campaign, load_plan, write_model
    from adloom.pipeline import relative_to

    the_plan = load_plan(plan_file)
    campaign = load_campaign(campaign_file)
    product = _product(campaign, the_plan.product_id, plan_file)
    # A hand-edited plan must not turn into a video with invented product facts.
    allowed = [the_plan.matching.interest] if the_plan.matching.interest else []
    for scene_index, fld, item in the_plan.texts():
        problem = grounding_problem(item, product, allowed)
        if problem is not None:
            where = "cta" if scene_index is None else f"scenes.{scene_index}.{fld}"
            raise InputError(plan_file, f"{where}: {problem}")
    backend = registry.create("renderer", renderer, "template")
    thumb = out_file.with_suffix(".png")
    creative = backend.render(the_plan, campaign, out_file, thumbnail_path=thumb)
    record = out_file.with_suffix(".json")
    write_model(record, relative_to(creative, record.parent))
    err.print(f"wrote {out_file}, {thumb} and {record}")


VerifierOpt = Annotated[
    str, typer.Option("--verifier", help="Verifier backend: full (default) or basic.")
]


def _profile_and_reference(
    the_plan: Any, campaign: Any, users_file: Path | None
) -> tuple[Any, Any]:
    """The plan's user profile (with --users) and the product's generic plan."""
    from adloom import registry
    from adloom.io import load_users

    planner = registry.create("planner", "template", "template")
    profile = None
    if users_file is not None and the_plan.user_id is not None:
        profile = planner.profile(
            _find_user(load_users(users_file), the_plan.user_id, users_file), campaign
        )
    reference = None
    if the_plan.kind == "personalized":
        product = campaign.product(the_plan.product_id)
        reference = planner.plan(campaign, product, the_plan.context, None, None)
    return profile, reference


def _load_creative(creative_file: Path | None, video: Path, the_plan: Any) -> Any:
    from adloom.domain import Creative
    from adloom.io import parse, read_json
    from adloom.media import creative_for_file

    if creative_file is not None:
        creative = parse(Creative, read_json(creative_file), creative_file)
        return creative.model_copy(update={"path": str(video)})
    return creative_for_file(video, the_plan)


@app.command()
@fails_cleanly
def verify(
    video: Annotated[Path, typer.Argument(help="MP4 to check.")],
    plan_file: Annotated[Path, typer.Option("--plan", "-p", help="The plan it was made from.")],
    campaign_file: CampaignOpt,
    creative_file: Annotated[
        Path | None, typer.Option("--creative", help="creative.json written by render.")
    ] = None,
    users_file: UsersOpt = None,
    verifier: VerifierOpt = "full",
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the verdict here.")
    ] = None,
) -> None:
    """Verify a creative and print its Verdict (exit 1 unless accepted)."""
    from adloom import registry
    from adloom.io import load_campaign, load_plan

    the_plan = load_plan(plan_file)
    campaign = load_campaign(campaign_file)
    _product(campaign, the_plan.product_id, plan_file)
    creative = _load_creative(creative_file, video, the_plan)
    profile, reference = _profile_and_reference(the_plan, campaign, users_file)
    backend = registry.create("verifier", verifier, "full")
    verdict = backend.verify(creative, the_plan, campaign, profile, reference=reference)
    _emit(verdict.model_dump_json(indent=2), out_file)
    if verdict.decision != "accept":
        raise typer.Exit(1)


@app.command()
@fails_cleanly
def refine(
    plan_file: Annotated[Path, typer.Argument(help="CreativePlan JSON to make acceptable.")],
    campaign_file: CampaignOpt,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("refined"),
    video: Annotated[
        Path | None,
        typer.Option("--video", help="An existing render of the plan (default: render it)."),
    ] = None,
    creative_file: Annotated[
        Path | None, typer.Option("--creative", help="creative.json of --video.")
    ] = None,
    users_file: UsersOpt = None,
    max_rounds: Annotated[int, typer.Option(help="Revise rounds at most.", min=1, max=10)] = 3,
    verifier: VerifierOpt = "full",
) -> None:
    """Verify a creative and repair it with the Reflector until accepted (exit 1 if not).

    Writes the final plan, video, creative record and verdict to --out, and every round
    (failed checks, directives, re-rendered scenes) to refine.json.
    """
    from adloom import registry
    from adloom.io import load_campaign, load_plan, write_model
    from adloom.pipeline import relative_to
    from adloom.reflector.loop import refine as refine_loop

    the_plan = load_plan(plan_file)
    campaign = load_campaign(campaign_file)
    _product(campaign, the_plan.product_id, plan_file)
    profile, reference = _profile_and_reference(the_plan, campaign, users_file)
    renderer = registry.create("renderer", "template", "template")
    backend = registry.create("verifier", verifier, "full")
    reflector = registry.create("reflector", "rules", "rules")
    out_dir.mkdir(parents=True, exist_ok=True)
    if video is None:
        if creative_file is not None:
            raise InputError("--creative", "needs --video")
        creative = renderer.render(the_plan, campaign, out_dir / "creative.mp4")
    else:
        creative = _load_creative(creative_file, video, the_plan)
    verdict = backend.verify(creative, the_plan, campaign, profile, reference=reference)
    done = refine_loop(
        the_plan,
        creative,
        verdict,
        campaign=campaign,
        renderer=renderer,
        verifier=backend,
        reflector=reflector,
        out_path=out_dir / "creative.mp4",
        profile=profile,
        reference=reference,
        max_rounds=max_rounds,
    )
    write_model(out_dir / "plan.json", done.plan)
    write_model(out_dir / "creative.json", relative_to(done.creative, out_dir))
    write_model(out_dir / "verdict.json", done.verdict)
    write_model(out_dir / "refine.json", done.result)
    for r in done.result.rounds:
        acts = ", ".join(
            d.action + ("" if d.scene_index is None else f"@{d.scene_index}") for d in r.directives
        )
        err.print(
            f"round {r.round}: {r.decision}"
            + (f" — failed {', '.join(r.failed_checks)}" if r.failed_checks else "")
            + (f"; directives {acts}" if acts else "")
        )
    err.print(f"{done.result.final_decision} ({done.result.stopped}); wrote {out_dir}")
    if done.verdict.decision != "accept":
        raise typer.Exit(1)


@app.command()
@fails_cleanly
def schema(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(SCHEMAS)}.")],
    out_file: Annotated[Path | None, typer.Option("--out", "-o")] = None,
) -> None:
    """Print the JSON Schema of a domain model (plan, campaign, verdict, ...)."""
    if name not in SCHEMAS:
        raise InputError("schema", f"unknown schema {name!r} (known: {', '.join(SCHEMAS)})")
    _emit(json.dumps(SCHEMAS[name].model_json_schema(), indent=2), out_file)


@app.command()
@fails_cleanly
def report(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "out/report"
    ),
    logs: Annotated[
        Path | None, typer.Option("--logs", help="Experiment table, CSV or Parquet.")
    ] = None,
    arm: Annotated[str, typer.Option(help="Column of the assigned arm.")] = "arm",
    metric: Annotated[
        list[str] | None, typer.Option("--metric", "-m", help="Outcome column (repeat).")
    ] = None,
    covariate: Annotated[
        list[str] | None, typer.Option(help="Pre-period column for CUPED (repeat).")
    ] = None,
    by: Annotated[list[str] | None, typer.Option(help="Breakdown column (repeat).")] = None,
    feature: Annotated[
        list[str] | None, typer.Option(help="Uplift-model feature column (repeat).")
    ] = None,
    control: Annotated[str, typer.Option(help="The no-ad arm.")] = "control",
    uplift_arm: Annotated[str | None, typer.Option(help="Model this arm's uplift.")] = None,
    store: Annotated[
        str | None, typer.Option(help="Serving store: SQLite path or PostgreSQL URL.")
    ] = None,
    advertiser: Annotated[str | None, typer.Option(help="Advertiser id (with --store).")] = None,
    campaign: Annotated[str, typer.Option(help="Campaign id.")] = "campaign",
    exposures: Annotated[
        Path | None, typer.Option(help="Holdout exposure log, JSON lines (with --store).")
    ] = None,
    min_count: Annotated[int, typer.Option(help="Suppress cells below this many users.")] = 50,
    epsilon: Annotated[
        float | None, typer.Option(help="Release with differential privacy.")
    ] = None,
    budget: Annotated[float | None, typer.Option(help="Campaign's total epsilon.")] = None,
    ledger: Annotated[Path, typer.Option(help="Privacy budget ledger.")] = Path(
        ".adloom-privacy.json"
    ),
    demo: Annotated[bool, typer.Option("--demo", help="A simulated holdout test.")] = False,
) -> None:
    """Measure a holdout test: lift with intervals, breakdowns, uplift; HTML + JSON."""
    from adloom.measurement.logs import ExperimentColumns
    from adloom.measurement.report import ReportSettings, build_report, load_source, write_report

    columns = ExperimentColumns(
        arm=arm,
        metrics=metric or ["click", "conversion", "revenue"],
        covariates=covariate or [],
        segments=by or [],
        features=feature or [],
    )
    data = load_source(
        logs=logs,
        columns=columns,
        store=store,
        advertiser_id=advertiser,
        campaign_id=campaign,
        exposures=exposures,
        demo=demo,
    )
    settings = ReportSettings(
        campaign_id="demo" if demo else campaign,
        control=control,
        metrics=None if demo or store else columns.metrics,
        covariates=["engaged"] if demo else columns.covariates,
        uplift_arm="personalized" if demo and uplift_arm is None else uplift_arm,
        uplift_metric="conversion" if demo else None,
        min_count=min_count,
        epsilon=epsilon,
        budget=budget,
        ledger=str(ledger) if epsilon is not None else None,
        bounds={"revenue": 500.0} if demo else {},
    )
    result = build_report(data, settings)
    html, js = write_report(result, out_dir)
    for lift in result.lifts:
        rel = "" if lift.relative is None else f" ({lift.relative * 100:+.1f} %)"
        out.print(
            f"{lift.metric:<12} {lift.arm:<14} {lift.absolute:+.5f}{rel} "
            f"[{lift.absolute_ci.low:+.5f}, {lift.absolute_ci.high:+.5f}] p={lift.p_value:.2g}",
            highlight=False,
        )
    out.print(f"wrote {html} and {js}")


def build_server(
    config: Path | None, demo: bool, data_dir: Path, host: str, port: int
) -> tuple[Any, Any]:
    """The settings and AdServer ``serve`` runs: a config file, the demo, or defaults."""
    from adloom.io import parse, read_json
    from adloom.serving.engine import AdServer
    from adloom.serving.settings import ServeSettings

    data = read_json(config) if config is not None else {}
    data.setdefault("base_url", f"http://{host}:{port}")
    if demo:
        data.setdefault("store", {"type": "sqlite", "path": str(data_dir / "serve.db")})
        data.setdefault("spool_dir", str(data_dir / "spool"))
    settings = parse(ServeSettings, data, config or "settings")
    return settings, AdServer.from_settings(settings)


@app.command()
@fails_cleanly
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Serve the sample campaign (rendered on first run).")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings JSON (store, counters, policy).")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the demo keeps creatives and its store.")
    ] = Path(".adloom-serve"),
) -> None:
    """Start the ad server: /v1/decide, OpenRTB 2.6, VAST 4, tracking and management."""
    try:
        import uvicorn

        from adloom.serving.app import create_app
    except ImportError as exc:
        raise AdloomError(
            f"serving needs the 'serve' extra: pip install 'adloom[serve]' ({exc})"
        ) from None
    settings, server = build_server(config, demo, data_dir, host, port)
    if demo:
        from adloom.demo import load_sample
        from adloom.serving import demo as serve_demo
        from adloom.serving.prerender import Prerenderer

        err.print("preparing the sample campaign (the first run renders and verifies it)…")
        campaign, users = load_sample()
        setup = serve_demo.prepare(server.store, data_dir, campaign=campaign, users=users)
        server.prerender = Prerenderer(
            serve_demo.pipeline_renderer(campaign, users, data_dir),
            server.store,
            server.catalog.refresh,
        )
        base = settings.base_url
        err.print(
            f"{setup.accepted} of {setup.creatives} creatives accepted for serving\n"
            f"demo API key: {setup.api_key}\n"
            f"try: curl -s {base}/v1/decide -H 'content-type: application/json' "
            f'-d \'{{"user_id": "{setup.user_ids[0]}"}}\'\n'
            f"     curl -s '{base}/vast/4?user_id={setup.user_ids[0]}'\n"
            f"     curl -s {base}/v1/campaigns/{setup.campaign_id}/report "
            f"-H 'authorization: Bearer {setup.api_key}'\n"
            f"API docs: {base}/docs",
            highlight=False,
            soft_wrap=True,
        )
    # No access log: at this level its lines are dropped anyway, after uvicorn has built
    # each one (client address, path) on every request.
    uvicorn.run(
        create_app(settings, server=server),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
    )


from adloom.bench_cli import app as bench_app  # noqa: E402 - it uses the helpers above

app.add_typer(bench_app, name="bench")


from adloom.cohorts.cli import cohorts_app  # noqa: E402 - it uses the helpers above

app.add_typer(cohorts_app, name="cohorts")


from adloom.integrate_cli import integrate_command  # noqa: E402

app.command("integrate")(fails_cleanly(integrate_command))
