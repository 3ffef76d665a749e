"""``adloom report``: one HTML page and one JSON file with the same numbers.

The JSON (:class:`MeasurementReport`, JSON Schema exportable) is what other tools read;
the HTML shows it with plots: lift with intervals, lift by cohort/creative/context, and
the Qini curve of an uplift model against random targeting. Both are written atomically.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from adloom.domain import Model
from adloom.errors import InputError
from adloom.io import write_model, write_text
from adloom.measurement.holdout import ExposureLog, Holdout, HoldoutConfig, itt_table
from adloom.measurement.lift import Correction, Lift, PowerPlan, lift_by, lift_table, plan_test
from adloom.measurement.logs import ExperimentColumns, ExperimentData, load_experiment
from adloom.measurement.privacy import (
    DEFAULT_MIN_COUNT,
    PrivacyLedger,
    PrivateRelease,
    private_lift,
    release,
)
from adloom.measurement.uplift import TargetingRule, UpliftEvaluation, fit_and_evaluate


class ReportSettings(Model):
    campaign_id: str = "campaign"
    control: str = "control"
    metrics: list[str] | None = Field(None, description="None: every outcome in the data.")
    covariates: list[str] = Field(default_factory=list, description="CUPED covariates.")
    breakdowns: list[str] | None = Field(None, description="None: every segment column.")
    level: float = Field(0.95, gt=0.0, lt=1.0)
    bootstrap: int = Field(1000, ge=0)
    correction: Correction = "holm"
    min_count: int = Field(DEFAULT_MIN_COUNT, ge=1)
    epsilon: float | None = Field(None, gt=0.0, description="Differential privacy, if set.")
    budget: float | None = Field(None, gt=0.0, description="The campaign's total epsilon.")
    ledger: str | None = Field(None, description="Privacy ledger file.")
    bounds: dict[str, float] = Field(default_factory=dict, description="DP clipping bounds.")
    uplift_arm: str | None = Field(None, description="Arm whose uplift to model (needs features).")
    uplift_metric: str | None = None
    uplift_learner: str = "x"
    value_per_outcome: float = Field(1.0, gt=0.0)
    cost_per_contact: float = Field(0.0, ge=0.0)
    seed: int = 0


class ArmSummary(Model):
    arm: str
    n: int | None = Field(None, description="None when the arm is suppressed.")
    means: dict[str, float] = Field(default_factory=dict)
    suppressed: bool = False


class MeasurementReport(Model):
    campaign_id: str
    source: str
    generated: datetime
    settings: ReportSettings
    arms: list[ArmSummary]
    lifts: list[Lift]
    breakdowns: list[Lift] = Field(default_factory=list)
    power: list[PowerPlan] = Field(default_factory=list)
    uplift: UpliftEvaluation | None = None
    private: PrivateRelease | None = None
    private_lifts: list[Lift] = Field(default_factory=list)
    suppressed_cells: int = 0
    notes: list[str] = Field(default_factory=list)


def build_report(data: ExperimentData, settings: ReportSettings) -> MeasurementReport:
    """Every figure of the report, computed from one experiment table."""
    s = settings
    metrics = s.metrics if s.metrics is not None else list(data.outcomes)
    data.require_arm(s.control, role="control")
    notes: list[str] = []
    arms = []
    small = []
    for arm in data.arms:
        mask = data.arm == arm
        n = int(mask.sum())
        if n < s.min_count:
            arms.append(ArmSummary(arm=arm, suppressed=True))
            small.append(arm)
            continue
        means = {m: float(data.outcome(m)[mask].mean()) for m in metrics}
        arms.append(ArmSummary(arm=arm, n=n, means=means))
    if s.control in small:
        raise InputError(
            data.source,
            f"control {s.control!r} has fewer than {s.min_count} users: nothing to report",
        )
    treated = [a for a in data.arms if a != s.control and a not in small]
    if not treated:
        raise InputError(data.source, f"no treatment arm with at least {s.min_count} users")
    for arm in small:
        notes.append(f"arm {arm!r} has fewer than {s.min_count} users and is suppressed")
    lifts = lift_table(
        data,
        metrics,
        control=s.control,
        arms=treated,
        level=s.level,
        covariate=s.covariates or None,
        bootstrap=s.bootstrap,
        seed=s.seed,
    )
    breakdowns: list[Lift] = []
    for dim in s.breakdowns if s.breakdowns is not None else list(data.segments):
        for metric in metrics:
            breakdowns += lift_by(
                data,
                metric,
                dim,
                control=s.control,
                arms=treated,
                level=s.level,
                correction=s.correction,
                min_count=s.min_count,
            )
    suppressed = sum(r.suppressed for r in breakdowns) + len(small)
    c_mask = data.arm == s.control
    power = []
    for metric in metrics:
        y = data.outcome(metric)[c_mask]
        n_arm = int(np.mean([np.sum(data.arm == a) for a in treated]))
        power.append(
            plan_test(
                metric,
                float(y.mean()),
                n_arm,
                int(c_mask.sum()),
                sd=float(y.std(ddof=1)),
                alpha=1 - s.level,
            )
        )
    uplift = None
    if s.uplift_arm is not None:
        if data.features is None:
            raise InputError(data.source, "uplift modelling needs feature columns")
        data.require_arm(s.uplift_arm)
        pair = (data.arm == s.uplift_arm) | c_mask
        metric = s.uplift_metric or metrics[0]
        _, uplift = fit_and_evaluate(
            s.uplift_learner,
            data.features[pair],
            data.arm[pair] == s.uplift_arm,
            data.outcome(metric)[pair],
            metric=metric,
            seed=s.seed,
            rule=TargetingRule(
                value_per_outcome=s.value_per_outcome, cost_per_contact=s.cost_per_contact
            ),
        )
    private = None
    private_lifts: list[Lift] = []
    if s.epsilon is not None:
        if s.ledger is None or s.budget is None:
            raise InputError("report", "--epsilon needs a privacy ledger and a campaign budget")
        private = release(
            data,
            metrics,
            campaign_id=s.campaign_id,
            min_count=s.min_count,
            epsilon=s.epsilon,
            bounds=s.bounds,
            ledger=PrivacyLedger(s.ledger),
            budget=s.budget,
            label="report",
        )
        live = {a.arm for a in private.arms if not a.suppressed}
        for metric in metrics:
            for arm in treated:
                if arm in live and s.control in live:
                    private_lifts.append(
                        private_lift(private, metric, arm, s.control, level=s.level)
                    )
        notes.append(
            "Release with differential privacy: share the 'private' and 'private_lifts' "
            "sections only; the exact figures stay inside."
        )
    return MeasurementReport(
        campaign_id=s.campaign_id,
        source=data.source,
        generated=datetime.now(UTC),
        settings=s,
        arms=arms,
        lifts=lifts,
        breakdowns=breakdowns,
        power=power,
        uplift=uplift,
        private=private,
        private_lifts=private_lifts,
        suppressed_cells=suppressed,
        notes=notes,
    )


# --------------------------------------------------------------------------- demo


def demo_data(seed: int = 0, users: int = 30_000) -> ExperimentData:
    """A simulated holdout test with known effects, for trying ``adloom report --demo``.

    Users are split by a real :class:`Holdout` (80 % personalized, 10 % generic, 10 % no
    ad); conversion is 2 % without an ad, +0.6 points with the generic creative and +1.2
    with the personalized one, more for engaged users (a pre-period covariate).
    """
    holdout = Holdout(HoldoutConfig(campaign_id="demo", salt=f"demo-{seed}"))
    rng = np.random.default_rng(seed)
    arm = np.asarray([holdout.assign(f"user-{i}") for i in range(users)], dtype=np.str_)
    engaged = rng.gamma(2.0, 1.0, users)
    young = rng.random(users) < 0.4
    effect = np.select([arm == "personalized", arm == "generic"], [0.012, 0.006], 0.0)
    effect = effect * (0.5 + 0.5 * engaged) * np.where(young, 1.4, 0.7)
    p = np.clip(0.02 + 0.004 * engaged + effect, 0, 1)
    conversion = (rng.random(users) < p).astype(np.float64)
    click = np.maximum(conversion, (rng.random(users) < np.where(arm == "control", 0.0, 0.03)))
    revenue = conversion * rng.gamma(3.0, 15.0, users)
    creative = np.where(
        arm == "control", "(none)", np.where(rng.random(users) < 0.5, "video-a", "video-b")
    )
    platform = np.where(rng.random(users) < 0.6, "feed", "story")
    return ExperimentData(
        arm=arm,
        outcomes={"click": click.astype(np.float64), "conversion": conversion, "revenue": revenue},
        covariates={"engaged": engaged},
        segments={
            "cohort": np.where(young, "18-34", "35+").astype(np.str_),
            "creative": creative.astype(np.str_),
            "context": platform.astype(np.str_),
        },
        features=np.column_stack([engaged, young.astype(np.float64)]),
        feature_names=("engaged", "young"),
        source="demo (simulated holdout test)",
    )


# --------------------------------------------------------------------------- output


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _forest(rows: list[Lift], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if not r.suppressed]
    if not rows:
        return ""
    labels = [f"{r.metric} · {r.arm}" + (f" · {r.segment}" if r.segment else "") for r in rows]
    values = [(r.relative if r.relative is not None else r.absolute) for r in rows]
    lows = [(r.relative_ci.low if r.relative_ci else r.absolute_ci.low) for r in rows]
    highs = [(r.relative_ci.high if r.relative_ci else r.absolute_ci.high) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    ax.errorbar(
        values,
        y,
        xerr=[np.subtract(values, lows), np.subtract(highs, values)],
        fmt="o",
        color="#1f5fa8",
        ecolor="#7aa6d6",
        capsize=3,
    )
    ax.axvline(0, color="#999", lw=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("relative lift over control (interval)")
    ax.set_title(title, fontsize=10)
    return _svg(fig)


def _qini(ev: UpliftEvaluation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = ev.curve
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(c.fraction, c.qini, color="#1f5fa8", label=f"{ev.learner}-learner")
    ax.plot([0, 1], [0, c.qini[-1]], "--", color="#999", label="random targeting")
    ax.set_xlabel("share of users reached, by predicted uplift")
    ax.set_ylabel(f"incremental {ev.metric} per treated user")
    ax.set_title(f"Qini curve (held-out, n={ev.n_test})", fontsize=10)
    ax.legend(fontsize=8)
    return _svg(fig)


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{v * 100:+.2f} %" if pct else f"{v:.4g}"


def _lift_table(rows: list[Lift]) -> str:
    head = (
        "<tr><th>metric</th><th>arm</th><th>segment</th><th>n (arm / control)</th>"
        "<th>mean (arm / control)</th><th>absolute lift [interval]</th>"
        "<th>relative lift [interval]</th><th>p</th><th>p adj.</th></tr>"
    )
    body = []
    for r in rows:
        if r.suppressed:
            body.append(
                f"<tr><td>{escape(r.metric)}</td><td>{escape(r.arm)}</td>"
                f"<td>{escape(r.segment or '')}</td><td colspan=6 class=muted>suppressed "
                "(small cell)</td></tr>"
            )
            continue
        rel = (
            f"{_fmt(r.relative, True)} [{_fmt(r.relative_ci.low, True)}, "
            f"{_fmt(r.relative_ci.high, True)}]"
            if r.relative_ci
            else "–"
        )
        body.append(
            f"<tr><td>{escape(r.metric)}</td><td>{escape(r.arm)}</td>"
            f"<td>{escape(r.segment or '')}</td><td>{r.n_arm} / {r.n_control}</td>"
            f"<td>{_fmt(r.mean_arm)} / {_fmt(r.mean_control)}</td>"
            f"<td>{_fmt(r.absolute)} [{_fmt(r.absolute_ci.low)}, {_fmt(r.absolute_ci.high)}]</td>"
            f"<td>{rel}</td><td>{r.p_value:.3g}</td>"
            f"<td>{'' if r.p_adjusted is None else f'{r.p_adjusted:.3g}'}</td></tr>"
        )
    return f"<table>{head}{''.join(body)}</table>"


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}.muted{color:#888}
svg{max-width:100%;height:auto}"""


def render_html(report: MeasurementReport) -> str:
    r = report
    parts = [
        f"<!doctype html><html><head><meta charset=utf-8><title>adloom report: "
        f"{escape(r.campaign_id)}</title><style>{CSS}</style></head><body>",
        f"<h1>Measurement: {escape(r.campaign_id)}</h1>",
        f"<p class=muted>{escape(r.source)} · generated {r.generated:%Y-%m-%d %H:%M} UTC · "
        f"{int(r.settings.level * 100)} % intervals · control arm "
        f"<b>{escape(r.settings.control)}</b></p>",
    ]
    parts += [f"<p><b>Note:</b> {escape(n)}</p>" for n in r.notes]
    parts.append("<h2>Arms</h2><table><tr><th>arm</th><th>users</th><th>means</th></tr>")
    for a in r.arms:
        means = ", ".join(f"{k} {v:.4g}" for k, v in a.means.items())
        n = "suppressed" if a.suppressed else str(a.n)
        parts.append(f"<tr><td>{escape(a.arm)}</td><td>{n}</td><td>{escape(means)}</td></tr>")
    parts.append("</table><h2>Lift over control</h2>")
    parts.append(_forest(r.lifts, "Lift by arm and metric"))
    parts.append(_lift_table(r.lifts))
    if r.breakdowns:
        parts.append(
            "<h2>Lift by segment</h2><p class=muted>p-values adjusted "
            f"({escape(r.settings.correction)}) over each breakdown; cells under "
            f"{r.settings.min_count} users suppressed "
            f"({r.suppressed_cells} in all).</p>"
        )
        parts.append(_forest(r.breakdowns, "Lift by segment"))
        parts.append(_lift_table(r.breakdowns))
    if r.power:
        parts.append(
            "<h2>Power</h2><table><tr><th>metric</th><th>users (arm / control)</th>"
            "<th>minimum detectable effect</th></tr>"
        )
        for p in r.power:
            parts.append(
                f"<tr><td>{escape(p.metric)}</td><td>{p.n_arm} / {p.n_control}</td>"
                f"<td>{_fmt(p.mde_absolute)} ({_fmt(p.mde_relative, True)}) at "
                f"{int(p.power * 100)} % power</td></tr>"
            )
        parts.append("</table>")
    if r.uplift is not None:
        u = r.uplift
        parts.append("<h2>Uplift model</h2>")
        parts.append(
            f"<p>{escape(u.learner)}-learner on {escape(u.metric)}: Qini {u.qini:.4g} against "
            f"{u.random_qini_mean:.4g} ± {u.random_qini_sd:.2g} for random orderings (beats "
            f"{u.beats_random * 100:.0f} % of them); AUUC {u.auuc:.4g} vs random "
            f"{u.auuc_random:.4g}.</p>"
        )
        parts.append(_qini(u))
        if u.targeting is not None:
            t = u.targeting
            parts.append(
                f"<p>Targeting where uplift × {t.rule.value_per_outcome:g} &gt; "
                f"{t.rule.cost_per_contact:g}: reaches {t.share_targeted * 100:.0f} % of users, "
                f"net {t.value:.4g} per user [{t.interval.low:.4g}, {t.interval.high:.4g}] vs "
                f"treat all {t.treat_all:.4g}, treat none {t.treat_none:.4g}.</p>"
            )
    if r.private is not None:
        parts.append(
            f"<h2>Private release</h2><p>epsilon {r.private.epsilon:g}, budget left "
            f"{r.private.remaining_budget:g}</p>"
        )
        parts.append(_lift_table(r.private_lifts))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: MeasurementReport, out_dir: str | Path) -> tuple[Path, Path]:
    out = Path(out_dir)
    json_path = write_model(out / "report.json", report)
    html_path = write_text(out / "report.html", render_html(report))
    return html_path, json_path


def load_source(
    *,
    logs: Path | None = None,
    columns: ExperimentColumns | None = None,
    store: str | None = None,
    advertiser_id: str | None = None,
    campaign_id: str | None = None,
    exposures: Path | None = None,
    demo: bool = False,
    seed: int = 0,
) -> ExperimentData:
    """The experiment a report reads: a log file, the serving store plus the holdout's
    exposure log, or the simulated demo."""
    chosen = sum([logs is not None, store is not None, demo])
    if chosen != 1:
        raise InputError("report", "give exactly one of --logs, --store or --demo")
    if demo:
        return demo_data(seed)
    if logs is not None:
        return load_experiment(logs, columns)
    assert store is not None
    if exposures is None:
        raise InputError(
            "--exposures", "required with --store: the holdout's exposure log gives each user's arm"
        )
    if not advertiser_id or not campaign_id:
        raise InputError("--store", "needs --advertiser and --campaign")
    from adloom import registry

    spec: dict[str, Any] = (
        {"type": "postgresql", "url": store}
        if store.startswith("postgresql")
        else {"type": "sqlite", "path": store.removeprefix("sqlite:///")}
    )
    backend = registry.create("store", spec, "sqlite")
    try:
        decisions, events = backend.history(advertiser_id, campaign_id)
    finally:
        backend.close()
    return itt_table(
        ExposureLog(exposures).read(),
        decisions,
        events,
        campaign_id=campaign_id,
        source=f"{store} + {exposures}",
    )
