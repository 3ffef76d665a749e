"""``adloom bench``: benchmarks over library calls (the PCG judge benchmark)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adloom.cli import backend_spec, err, fails_cleanly, out
from adloom.errors import InputError

app: typer.Typer = typer.Typer(
    name="bench",
    help="Benchmarks: personalized against generic creatives, scored by a judge.",
    no_args_is_help=True,
)


@app.command()
@fails_cleanly
def pcg(
    campaign_file: Annotated[
        Path | None, typer.Option("--campaign", "-c", help="Campaign JSON (default: sample).")
    ] = None,
    users_file: Annotated[
        Path | None, typer.Option("--users", "-u", help="Users JSON (with --campaign).")
    ] = None,
    planner: Annotated[
        str, typer.Option(help="Director: template, openai, or a JSON config file.")
    ] = "template",
    judge: Annotated[
        str, typer.Option(help="Judge: embedded, openai, or a JSON config file.")
    ] = "embedded",
    duration: Annotated[float | None, typer.Option(help="Creative length, seconds.")] = None,
    max_pairs: Annotated[
        int | None, typer.Option("--max-pairs", min=1, help="Stop after this many pairs.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    details: Annotated[
        bool, typer.Option(help="Include every creative's judgements in the JSON.")
    ] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the JSON report here.")
    ] = None,
) -> None:
    """Score personalized against generic creatives per PCG dimension (means, 95% CIs)."""
    from adloom import registry
    from adloom.demo import load_sample
    from adloom.io import load_campaign, load_users, parse, write_text
    from adloom.verifier.pcg import run_pcg

    if campaign_file is not None:
        if users_file is None:
            raise InputError("--users", "required with --campaign")
        campaign, users = load_campaign(campaign_file), load_users(users_file)
    elif users_file is not None:
        raise InputError("--users", "needs --campaign")
    else:
        campaign, users = load_sample()
    context = campaign.contexts[0]
    if duration is not None:
        from adloom.domain import Context

        context = parse(Context, {**context.model_dump(), "duration_s": duration}, "--duration")
    the_planner = registry.create("planner", backend_spec(planner, "--planner"), "template")
    the_judge = registry.create("judge", backend_spec(judge, "--judge"), "embedded")
    report = run_pcg(campaign, users, the_planner, the_judge, context=context, max_pairs=max_pairs)
    exclude = None if details else {"creatives"}
    text = report.model_dump_json(indent=2, exclude=exclude)
    if out_file is not None:
        write_text(out_file, text + "\n")
        err.print(f"wrote {out_file}")
    if as_json:
        typer.echo(text)
        return
    _print(report)


def _print(report: Any) -> None:
    # Wide enough for the table whatever the terminal says (CI logs report 80 columns).
    console = Console(width=max(out.width, 112), highlight=False)
    label = " (proxies: measurements, not a model's opinion)" if report.proxy else ""
    table = Table(
        title=f"PCG: {report.planner} Director, {report.judge} judge{label}",
        title_justify="left",
    )
    for col in ("dimension", "personalized", "generic", "difference"):
        table.add_column(col, justify="left" if col == "dimension" else "right", no_wrap=True)
    for r in report.dimensions:
        table.add_row(
            r.dimension + (" *" if r.proxy else ""),
            _ci(r.personalized),
            _ci(r.generic),
            _ci(r.difference, signed=True),
        )
    console.print(table)
    skipped = f", {len(report.skipped_users)} left out (no consent)" if report.skipped_users else ""
    console.print(
        f"{report.users} users{skipped}, {report.pairs} pairs; "
        f"{report.personalized_share:.0%} of personalized creatives personalized; "
        f"{report.fallbacks} fallback plan(s)"
    )
    console.print(
        f"per creative: plan {report.plan_s_per_creative * 1000:.0f} ms, judge "
        f"{report.judge_s_per_creative * 1000:.0f} ms, {report.tokens_per_creative:g} tokens, "
        f"cost {report.cost_per_creative:.6f}"
    )
    if report.proxy:
        console.print(
            "* scored by transparent proxies (embedding, colour, claim and context measures)"
        )


def _ci(interval: Any, signed: bool = False) -> str:
    fmt = "+.2f" if signed else ".2f"
    if interval.n < 2:
        return f"{interval.mean:{fmt}} (n={interval.n})"
    return f"{interval.mean:{fmt}} [{interval.low:.2f}, {interval.high:.2f}]"
