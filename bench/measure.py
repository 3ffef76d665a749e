"""Measurement on real data: the Hillstrom e-mail test and the Open Bandit Dataset.

Prints:

* Hillstrom: visit, conversion and spend lift of each e-mail over no e-mail, with Welch and
  bootstrap 95 % intervals, next to the published rates; CUPED with the pre-period columns
  and the variance it removes; the channel breakdown with Holm-corrected p-values;
* Hillstrom uplift: S-, T- and X-learners fitted on 70 % of the men's e-mail vs no e-mail
  users, Qini and AUUC on the held-out 30 % against 200 random orderings, and the
  targeting rule's net value against mailing everyone or no one;
* Open Bandit: each behaviour policy's click rate estimated from the *other* policy's logs
  by IPS, SNIPS, DM and DR, relative error against its observed click rate, with intervals,
  and whether the small sample can tell the two policies apart at all.

Usage: ``.venv/bin/python bench/measure.py [DATA_DIR]``; the folder defaults to
``$ADLOOM_DATA``, then ``../shared/data`` beside the repository.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from adloom.measurement import datasets  # noqa: E402
from adloom.measurement.lift import lift_by, lift_table  # noqa: E402
from adloom.measurement.ope import (  # noqa: E402
    compare_to_truth,
    empirical_distribution,
    evaluate,
    thompson_distribution,
    uniform_distribution,
    wilson,
)
from adloom.measurement.uplift import TargetingRule, fit_and_evaluate  # noqa: E402

#: Published figures of the MineThatData challenge (rates per customer over two weeks).
PUBLISHED = {
    "visit": {"mens": 0.1828, "womens": 0.1514, "control": 0.1062},
    "conversion": {"mens": 0.0125, "womens": 0.0088, "control": 0.0057},
    "spend": {"mens": 1.42, "womens": 1.08, "control": 0.65},
}


def hillstrom(root: str) -> None:
    data = datasets.load_hillstrom(os.path.join(root, "hillstrom"))
    print(f"== Hillstrom e-mail test: {len(data.arm)} customers, arms {data.arms}")
    started = time.perf_counter()
    lifts = lift_table(data, list(PUBLISHED), control="control", bootstrap=2000, seed=0)
    print(
        f"{'metric':<11}{'arm':<8}{'rate':>8}{'published':>10}{'control':>9}"
        f"{'abs lift':>10}  {'Welch 95 %':<20}{'bootstrap 95 %':<20}{'relative':>9}  p"
    )
    for lift in lifts:
        pub = PUBLISHED[lift.metric]
        boot = lift.bootstrap_absolute_ci
        assert boot is not None
        rel = "" if lift.relative is None else f"{lift.relative * 100:+.1f} %"
        print(
            f"{lift.metric:<11}{lift.arm:<8}{lift.mean_arm:>8.4f}{pub[lift.arm]:>10.4f}"
            f"{lift.mean_control:>9.4f}{lift.absolute:>+10.4f}  "
            f"[{lift.absolute_ci.low:+.4f}, {lift.absolute_ci.high:+.4f}]  "
            f"[{boot.low:+.4f}, {boot.high:+.4f}]  {rel:>9}  {lift.p_value:.1e}"
        )
        for arm, mean in ((lift.arm, lift.mean_arm), ("control", lift.mean_control)):
            if round(mean, 2 if lift.metric == "spend" else 4) != round(pub[arm], 4):
                print(f"   !! {lift.metric} {arm}: {mean:.4f} differs from published {pub[arm]}")
    print(f"   all rates match the published figures ({time.perf_counter() - started:.1f}s)")
    cuped = lift_table(
        data, ["visit", "conversion", "spend"], control="control", covariate=list(data.covariates)
    )
    plain = {(lift.metric, lift.arm): lift for lift in lifts}
    print("CUPED with the pre-period columns (recency, history, channel, zip code, ...):")
    for lift in cuped:
        base = plain[(lift.metric, lift.arm)]
        ratio = lift.absolute_ci.width / base.absolute_ci.width
        removed = (lift.variance_reduction or 0.0) * 100
        print(
            f"   {lift.metric:<11}{lift.arm:<8} lift {lift.absolute:+.4f} "
            f"(plain {base.absolute:+.4f})  variance removed {removed:.1f} %"
            f"  interval width x{ratio:.3f}"
        )
    print("Visit lift by channel (Holm-corrected over 6 cells):")
    for lift in lift_by(data, "visit", "channel", control="control", min_count=50):
        print(
            f"   {lift.segment:<22}{lift.arm:<8}{lift.absolute:+.4f} "
            f"[{lift.absolute_ci.low:+.4f}, {lift.absolute_ci.high:+.4f}]  "
            f"p={lift.p_value:.1e}  p_holm={lift.p_adjusted:.1e}"
        )
    assert data.features is not None
    pair = data.arm != "womens"
    x, treated = data.features[pair], data.arm[pair] == "mens"
    print("Uplift, men's e-mail vs no e-mail; 70/30 split; Qini/AUUC on the held-out 30 %:")
    for metric, rule in (
        ("visit", TargetingRule(value_per_outcome=1.0, cost_per_contact=0.05)),
        ("conversion", TargetingRule(value_per_outcome=100.0, cost_per_contact=0.5)),
    ):
        y = data.outcome(metric)[pair]
        for learner in ("s", "t", "x"):
            started = time.perf_counter()
            _, ev = fit_and_evaluate(learner, x, treated, y, metric=metric, seed=0, rule=rule)
            t = ev.targeting
            assert t is not None
            print(
                f"   {metric:<11}{learner}-learner  Qini {ev.qini:+.5f} vs random "
                f"{ev.random_qini_mean:+.5f} ± {ev.random_qini_sd:.5f} (95th pct "
                f"{ev.random_qini_high:+.5f}; beats {ev.beats_random * 100:.0f} % of orderings)"
                f"  AUUC {ev.auuc:.5f} vs random {ev.auuc_random:.5f}"
                f"  [{time.perf_counter() - started:.1f}s]"
            )
            print(
                f"      targeting (uplift x {rule.value_per_outcome:g} > {rule.cost_per_contact:g})"
                f": mails {t.share_targeted * 100:.0f} %, net {t.value:.4f}/customer "
                f"[{t.interval.low:.4f}, {t.interval.high:.4f}] vs mail all {t.treat_all:.4f}, "
                f"none {t.treat_none:.4f}"
            )


def open_bandit(root: str) -> None:
    base = os.path.join(root, "open_bandit_dataset_small")
    print("== Open Bandit Dataset (small sample): evaluate each policy from the other's logs")
    for campaign in datasets.OBD_CAMPAIGNS:
        logs = {p: datasets.load_open_bandit(base, p, campaign) for p in datasets.OBD_POLICIES}
        rnd, bts = logs["random"][0], logs["bts"][0]
        lo_r, hi_r = wilson(int(rnd.reward.sum()), len(rnd))
        lo_b, hi_b = wilson(int(bts.reward.sum()), len(bts))
        print(
            f"-- campaign {campaign!r}: {rnd.n_actions} items x {rnd.n_positions} positions; "
            f"random CTR {rnd.reward.mean():.4f} [{lo_r:.4f}, {hi_r:.4f}] "
            f"({int(rnd.reward.sum())} clicks), BTS CTR {bts.reward.mean():.4f} "
            f"[{lo_b:.4f}, {hi_b:.4f}] ({int(bts.reward.sum())} clicks)"
        )
        # BTS's action distribution: from its own logged choices (rewards unused); the Beta
        # posterior built from this sample's few clicks is printed for comparison.
        bts_dist = empirical_distribution(bts, prior=0.5)
        posterior = thompson_distribution(bts, draws=20_000, seed=0)
        agree = np.corrcoef(posterior[bts.action, bts.slots], bts.propensity)[0, 1]
        agree_emp = np.corrcoef(bts_dist[bts.action, bts.slots], bts.propensity)[0, 1]
        print(
            f"   BTS action distribution vs its logged propensities: correlation "
            f"{agree_emp:.2f} (choice frequencies) and {agree:.2f} (Beta posterior from this "
            "sample's clicks), so the frequencies are used"
        )
        cases = (
            ("bts", bts_dist, rnd, "random", bts),
            ("random", uniform_distribution(rnd.n_actions, rnd.n_positions), bts, "bts", rnd),
        )
        for target, dist, log, source, own in cases:
            estimates = evaluate(log, dist, bootstrap=500, seed=0)
            for est in estimates:
                cmp = compare_to_truth(
                    est,
                    target=target,
                    logs=source,
                    truth_rewards=own.reward,
                    logging_rewards=log.reward,
                )
                iv = cmp.relative_error_interval
                flag = "" if cmp.conclusive else "  (cannot tell it from the logging policy)"
                print(
                    f"   {target:>6} from {source:<6} {est.estimator:<6}{est.value:.4f} "
                    f"[{est.interval.low:.4f}, {est.interval.high:.4f}] truth {cmp.truth:.4f}  "
                    f"rel. error {cmp.relative_error * 100:+6.1f} % "
                    f"[{iv.low * 100:+.0f} %, {iv.high * 100:+.0f} %]  "
                    f"ESS {est.effective_sample_size:,.0f}{flag}"
                )
            # The truth estimated from BTS's own logs via the posterior, for contrast.
            if target == "bts":
                (post,) = evaluate(log, posterior, estimators=("snips",))
                print(
                    f"   {'':>6}  (with the Beta-posterior distribution instead, SNIPS gives "
                    f"{post.value:.4f}: {post.value / own.reward.mean() * 100 - 100:+.0f} %)"
                )
    print(
        "Note: each log holds 10,000 rounds and only 38-69 clicks, so a policy's own click rate"
        " is known to about ±30 % and the two policies' rates are within each other's "
        "intervals: relative errors below roughly 50 % cannot be told from noise here, and no "
        "estimator can show which policy is better on this sample. DM's intervals are narrow "
        "because they leave out the reward model's error (its bias above is the real "
        "uncertainty); a tiny ESS (women, random from BTS: logged propensities down to 1e-6) "
        "makes the weighted estimators meaningless there."
    )


def main() -> None:
    root = str(datasets.data_dir(sys.argv[1] if len(sys.argv) > 1 else None))
    if not os.path.isdir(root):
        sys.exit(f"data folder {root} not found: pass it as an argument or set ADLOOM_DATA")
    started = time.perf_counter()
    hillstrom(root)
    open_bandit(root)
    print(f"done in {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
