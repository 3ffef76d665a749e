"""``adloom cohorts``: simulate logs, fit groups, plan one creative per group.

A thin layer over :mod:`adloom.cohorts`; errors print one line and exit 2.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from adloom.cli import err, fails_cleanly, out
from adloom.errors import InputError

cohorts_app: typer.Typer = typer.Typer(
    name="cohorts",
    help="Product-aware groups of users and one creative per group (OSMF).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def say(text: str) -> None:
    """One line of output, never wrapped or highlighted (it is read by scripts too)."""
    out.print(text, highlight=False, soft_wrap=True)


@cohorts_app.command()
@fails_cleanly
def simulate(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the CSV files.")] = Path(
        "out/cohorts/logs"
    ),
    users: Annotated[int, typer.Option(help="Simulated users.")] = 3000,
    groups: Annotated[int, typer.Option(help="Planted groups.")] = 4,
    impressions: Annotated[int, typer.Option(help="Impressions per user.")] = 12,
    images: Annotated[bool, typer.Option(help="Draw an image per creative.")] = True,
    seed: int = 0,
) -> None:
    """Write a seeded click log with planted groups for the sample campaign's products."""
    from adloom.cohorts.simulate import simulate_clicks, write_simulation
    from adloom.demo import load_sample

    campaign, _ = load_sample()
    data = simulate_clicks(
        n_users=users,
        n_groups=groups,
        products=campaign.products,
        impressions=impressions,
        seed=seed,
        image_dir=out_dir / "images" if images else None,
    )
    paths = write_simulation(data, out_dir)
    say(
        f"{len(data.users)} users, {len(data.items)} creatives of {len(data.items.products)} "
        f"products, {len(data)} impressions, {data.clicks} clicks; {groups} planted groups"
    )
    for name, path in paths.items():
        say(f"  {name}: {path}")


def _settings(config: Path | None, options: dict[str, Any], **sections: dict[str, Any]) -> Any:
    """CohortSettings from a JSON file, with the command-line options that were given on
    top (``sections`` for nested settings such as ``grouping``)."""
    from adloom.cohorts.fit import CohortSettings
    from adloom.io import parse, read_json

    data: Any = read_json(config) if config is not None else {}
    if not isinstance(data, dict):
        raise InputError(config or "--config", "expected a JSON object")
    data.update({k: v for k, v in options.items() if v is not None})
    for name, values in sections.items():
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            section = data.get(name, {})
            data[name] = {**(section if isinstance(section, dict) else {}), **given}
    return parse(CohortSettings, data, config or "options")


@cohorts_app.command()
@fails_cleanly
def fit(
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "out/cohorts"
    ),
    clicks: Annotated[
        Path | None, typer.Option(help="Impressions: user, item and click columns (CSV/Parquet).")
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option(help="Users: id, consent, attributes (default: columns of --clicks)."),
    ] = None,
    items: Annotated[
        Path | None,
        typer.Option(help="Creatives: id, product, text, image (default: items by id)."),
    ] = None,
    open_bandit: Annotated[
        Path | None, typer.Option(help="Open Bandit Dataset folder instead of the three files.")
    ] = None,
    policy: Annotated[str, typer.Option(help="Open Bandit behaviour policy.")] = "random",
    bandit_campaign: Annotated[str, typer.Option(help="Open Bandit campaign.")] = "all",
    user_column: str = "user_id",
    item_column: str = "item_id",
    click_column: str = "click",
    assume_consent: Annotated[
        bool, typer.Option(help="The users file has no consent column: all consented.")
    ] = False,
    config: Annotated[Path | None, typer.Option(help="CohortSettings JSON.")] = None,
    product: Annotated[
        list[str] | None, typer.Option("--product", "-p", help="Only these products (repeat).")
    ] = None,
    k_max: Annotated[int | None, typer.Option(help="Most groups per product.")] = None,
    criterion: Annotated[
        str | None, typer.Option(help="silhouette, calinski_harabasz or davies_bouldin.")
    ] = None,
    min_group_size: Annotated[int | None, typer.Option(help="k-anonymity minimum.")] = None,
    small_groups: Annotated[str | None, typer.Option(help="merge or generic.")] = None,
    text_encoder: Annotated[str | None, typer.Option(help="minilm or hashing.")] = None,
    image_encoder: Annotated[str | None, typer.Option(help="efficientnet or pixels.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for splits, training, grouping.")] = None,
) -> None:
    """Train the preference model and group each product's users; write cohorts.json."""
    from adloom.cohorts import data as logs
    from adloom.cohorts.fit import fit_cohorts
    from adloom.io import write_model, write_text

    settings = _settings(
        config,
        {
            "products": product or None,
            "min_group_size": min_group_size,
            "small_groups": small_groups,
            "text_encoder": text_encoder,
            "image_encoder": image_encoder,
            "seed": seed,
        },
        grouping={"k_max": k_max, "criterion": criterion, "seed": seed},
        preference={"epochs": epochs, "seed": seed},
    )
    if open_bandit is not None:
        if clicks or users or items:
            raise InputError(
                "--open-bandit", "use either --open-bandit or --clicks/--users/--items"
            )
        data = logs.load_open_bandit(open_bandit, policy, bandit_campaign)
    else:
        if clicks is None:
            raise InputError("--clicks", "required (or use --open-bandit)")
        consent = None if assume_consent else "consent"
        item_table = None if items is None else logs.load_items(items, id_column=item_column)
        if users is None:
            data = logs.load_log(
                clicks,
                item_table,
                user_column=user_column,
                item_column=item_column,
                click_column=click_column,
                consent_column=consent,
            )
        else:
            user_table = logs.load_users(users, id_column=user_column, consent_column=consent)
            data = logs.load_clicks(
                clicks,
                user_table,
                item_table or _items_of(clicks, item_column),
                user_column=user_column,
                item_column=item_column,
                click_column=click_column,
            )
    started = time.perf_counter()
    result = fit_cohorts(data, settings, progress=lambda msg: err.print(f"  {msg}…"))
    report = result.report
    write_model(out_dir / "cohorts.json", report)
    result.model.save(out_dir / "model")
    _write_assignments(out_dir / "assignments.csv", data.users.ids.tolist(), result.assignments)
    write_text(out_dir / "settings.json", settings.model_dump_json(indent=2) + "\n")
    say(
        f"[bold green]done[/] in {time.perf_counter() - started:.1f}s: "
        f"{report.consenting_users} of {report.users} users (consenting), "
        f"{report.impressions} impressions, {report.clicks} clicks"
    )
    if report.auroc is not None:
        base = ", ".join(f"{k} {v:.3f}" for k, v in report.auroc.baselines.items() if v is not None)
        say(f"  AUROC {report.auroc.cohorts:.3f}" + (f" ({base})" if base else ""))
    for p in report.products:
        sizes = "/".join(str(g.size) for g in p.groups)
        line = f"  {p.product_id}: k={p.k} ({p.criterion}), groups {sizes}"
        if p.ndcg_at_5 is not None:
            base = ", ".join(
                f"{k} {v:.3f}" for k, v in p.ndcg_at_5.baselines.items() if v is not None
            )
            line += f"; NDCG@5 {p.ndcg_at_5.cohorts:.3f} ({base})"
        if p.adjusted_rand is not None:
            line += f"; ARI {p.adjusted_rand:.3f}"
        say(line)
    for note in report.notes:
        say(f"  note: {note}")
    say(f"wrote {out_dir / 'cohorts.json'}")


def _items_of(clicks: Path, item_column: str) -> Any:
    """Items known only by the ids the impressions name."""
    from adloom.cohorts.data import items_from_ids
    from adloom.measurement.logs import read_table

    ids = read_table(clicks, [item_column])[item_column]
    return items_from_ids([str(i) for i in ids], str(clicks))


def _write_assignments(dest: Path, user_ids: list[str], assignments: dict[str, list[str]]) -> None:
    from adloom.io import atomic_path

    with atomic_path(dest) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["user_id", "product_id", "group_id"])
        for pid, groups in assignments.items():
            for uid, gid in zip(user_ids, groups, strict=True):
                w.writerow([uid, pid, gid])


@cohorts_app.command()
@fails_cleanly
def plan(
    cohorts_file: Annotated[
        Path, typer.Option("--cohorts", help="cohorts.json written by 'adloom cohorts fit'.")
    ] = Path("out/cohorts/cohorts.json"),
    campaign_file: Annotated[
        Path | None, typer.Option("--campaign", "-c", help="Campaign JSON (default: the sample).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "out/cohorts/plans"
    ),
    product: Annotated[
        list[str] | None, typer.Option("--product", "-p", help="Only these products (repeat).")
    ] = None,
    render: Annotated[bool, typer.Option(help="Also render each plan to an MP4.")] = False,
    aspect_ratio: Annotated[str | None, typer.Option(help="16:9 or 9:16.")] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds.")] = None,
    seed: int = 0,
) -> None:
    """Plan (and optionally render) one creative per (product, group) with the Director."""
    from adloom import registry
    from adloom.cli import _context
    from adloom.cohorts.plan import write_cohort_plans
    from adloom.cohorts.report import CohortReport
    from adloom.demo import sample_dir
    from adloom.io import load_campaign, parse, read_json

    report = parse(CohortReport, read_json(cohorts_file), cohorts_file)
    campaign = load_campaign(campaign_file or sample_dir() / "campaign.json")
    ctx = _context(campaign.contexts[0], aspect_ratio, duration)
    planner = registry.create("planner", "template", "template")
    renderer = registry.create("renderer", "template", "template") if render else None

    def do_render(the_plan: Any, dest: Path) -> Path:
        assert renderer is not None
        return Path(renderer.render(the_plan, campaign, dest).path)

    result = write_cohort_plans(
        report,
        campaign,
        planner,
        ctx,
        out_dir,
        seed=seed,
        products=product or None,
        render=do_render if render else None,
    )
    for c in result.creatives:
        say(f"  {c.group_id:<28} {c.users:>6} users  {c.kind:<12} {c.rationale}")
    for note in result.notes:
        say(f"  note: {note}")
    personalized = sum(c.kind == "personalized" for c in result.creatives)
    say(
        f"{personalized} group plans and {len(result.generic)} generic plans; "
        f"wrote {out_dir / 'cohort-plans.json'}"
    )


@cohorts_app.command()
@fails_cleanly
def assign(
    users: Annotated[Path, typer.Option(help="Users to assign: id, consent, attributes.")],
    fitted: Annotated[
        Path, typer.Option("--fitted", help="Folder written by 'adloom cohorts fit'.")
    ] = Path("out/cohorts"),
    out_file: Annotated[Path, typer.Option("--out", "-o", help="CSV to write.")] = Path(
        "out/cohorts/assigned.csv"
    ),
    user_column: str = "user_id",
    assume_consent: Annotated[
        bool, typer.Option(help="The users file has no consent column: all consented.")
    ] = False,
) -> None:
    """Assign (new) users to the fitted groups without refitting: user, product, group."""
    from adloom.cohorts.data import load_users
    from adloom.cohorts.model import PreferenceModel
    from adloom.cohorts.plan import assign_groups
    from adloom.cohorts.report import CohortReport
    from adloom.io import parse, read_json

    report = parse(CohortReport, read_json(fitted / "cohorts.json"), fitted / "cohorts.json")
    model = PreferenceModel.load(fitted / "model")
    table = load_users(
        users, id_column=user_column, consent_column=None if assume_consent else "consent"
    )
    labels = assign_groups(report, model, table)
    _write_assignments(out_file, table.ids.tolist(), labels)
    for pid, groups in labels.items():
        counts: dict[str, int] = {}
        for g in groups:
            counts[g] = counts.get(g, 0) + 1
        say(f"  {pid}: " + ", ".join(f"{g} {n}" for g, n in sorted(counts.items())))
    say(f"wrote {out_file}")


@cohorts_app.command()
@fails_cleanly
def schema(
    name: Annotated[str, typer.Argument(help="cohorts, cohort-plans or group.")],
) -> None:
    """Print the JSON Schema of a cohorts output."""
    from adloom.cohorts.report import SCHEMAS

    if name not in SCHEMAS:
        raise InputError("schema", f"unknown schema {name!r} (known: {', '.join(SCHEMAS)})")
    typer.echo(json.dumps(SCHEMAS[name].model_json_schema(), indent=2))
