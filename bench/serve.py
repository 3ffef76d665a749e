"""Serving speed and bandit regret, each against a baseline measured in the same run.

1. Starts ``adloom serve`` (uvicorn, one worker) on loopback over a catalog built from the
   sample campaign (real plans; small stand-in video files, since serving never decodes
   them): generic creatives per product and format, personalized ones per consenting user.
2. Drives it with adloom's load generator from a separate process:
   * closed loop (as fast as the server answers) for ``/v1/decide``, the OpenRTB endpoint
     and a no-op endpoint of the same app, the ceiling: throughput ratio to the no-op, in
     many short rounds, interleaved with the order reversed every round, so that a noisy
     neighbour slows every endpoint alike (the ratio printed is the median of the rounds'
     ratios, with their middle half and range);
   * open loop at 1,000 requests/s: p50/p99 latency (from each request's scheduled time,
     so queueing counts) against the goal p99 ≤ 10 ms.
3. Runs the seeded bandit simulation: cumulative regret of Thompson sampling and LinUCB
   against the best fixed creative, next to uniform random and epsilon-greedy.

Usage: ``.venv/bin/python bench/serve.py [SECONDS]`` (default 1 per endpoint and
closed-loop round, after half a second of warm-up; the open-loop runs take 6 s each).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from adloom import registry
from adloom.demo import load_sample
from adloom.director.embeddings import HashingEmbedder
from adloom.director.template import TemplatePlanner
from adloom.domain import Box, Creative, CreativePlan, Verdict
from adloom.serving import loadgen
from adloom.serving.catalog import key_hash
from adloom.serving.importer import creative_record
from adloom.store import Advertiser, CampaignRecord, ConsentRecord, FrequencyCap, Store

RATE = 1000
#: Interleaved closed-loop rounds per endpoint; the ratio reported is their median.
ROUNDS = 15
#: Seconds of each open-loop run (6,000 requests: the p99 is the 60th slowest).
OPEN_S = 6.0
P99_GOAL_MS = 10.0
SHARE_GOAL = 0.60
USERS = 2000


def stand_in(plan: CreativePlan, media: Path) -> tuple[Creative, Verdict]:
    w, h = plan.context.size
    media.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    creative = Creative(
        creative_id=f"cr-{plan.plan_id}"[:64],
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
        disclosure_box=Box(x=8, y=8, w=120, h=30),
        provenance="c2pa",
    )
    verdict = Verdict(
        creative_id=creative.creative_id,
        plan_id=plan.plan_id,
        decision="accept",
        checks=[],
        rationale="stand-in",
    )
    return creative, verdict


def seed(store: Store, work: Path) -> list[str]:
    """The sample campaign, its users and many anonymous-consent users; returns user ids."""
    campaign, users = load_sample()
    planner = TemplatePlanner(embedder=HashingEmbedder())
    adv = "bench"
    store.put(Advertiser(id=adv, name="bench", key_hashes=[key_hash("bench-key")]))
    cap = FrequencyCap(impressions_per_window=1_000_000, fatigue_after=1_000_000)
    store.put(CampaignRecord(advertiser_id=adv, campaign=campaign, frequency_cap=cap))
    media = work / "media"
    media.mkdir()
    plans: list[CreativePlan] = []
    for aspect in ("16:9", "9:16"):
        ctx = campaign.contexts[0].model_copy(update={"aspect_ratio": aspect})
        plans += [planner.plan(campaign, p, ctx) for p in campaign.products]
    ids = []
    for user in users:
        store.put(ConsentRecord(advertiser_id=adv, user_id=user.id, personalization=True))
        ids.append(user.id)
        for product in campaign.products:
            plan = planner.plan(campaign, product, campaign.contexts[0], user)
            if plan.kind == "personalized":
                plans.append(plan)
    for plan in plans:
        creative, verdict = stand_in(plan, media / f"{plan.plan_id}.mp4")
        store.put(creative_record(adv, plan, creative, verdict, Path(creative.path)))
    for i in range(USERS):
        uid = f"u{i:05d}"
        store.put(ConsentRecord(advertiser_id=adv, user_id=uid, personalization=i % 2 == 0))
        ids.append(uid)
    print(f"catalog: {len(plans)} creatives, {len(ids)} users with consent records")
    return ids


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_server(config: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "adloom.cli", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


def requests_for(user_ids: list[str]) -> dict[str, list[loadgen.Request]]:
    platforms = ["feed", "reels", "instream", "ctv"]
    decide, rtb, noop = [], [], []
    for i, uid in enumerate(user_ids):
        portrait = i % 4 == 1
        body = json.dumps(
            {
                "user_id": uid,
                "context": {
                    "platform": platforms[i % 4],
                    "aspect_ratio": "9:16" if portrait else "16:9",
                    "device": "mobile" if i % 2 else "desktop",
                },
            }
        ).encode()
        headers = {"content-type": "application/json"}
        decide.append(loadgen.Request("POST", "/v1/decide", body, headers))
        noop.append(loadgen.Request("POST", "/v1/noop", body, headers))
        bid = {
            "id": f"r{i}",
            "imp": [
                {
                    "id": "1",
                    "video": {
                        "mimes": ["video/mp4"],
                        "minduration": 5,
                        "maxduration": 30,
                        "protocols": [7, 13],
                        "w": 1080 if portrait else 1280,
                        "h": 1920 if portrait else 720,
                    },
                    "bidfloor": 0.5,
                }
            ],
            "site": {"id": "s", "domain": "news.example"},
            "device": {"devicetype": 4 if i % 2 else 2},
            "user": {"id": uid},
            "tmax": 100,
        }
        rtb.append(loadgen.Request("POST", "/openrtb/2.6/bid", json.dumps(bid).encode(), headers))
    return {"noop": noop, "decide": decide, "openrtb": rtb}


def rate(res: Any) -> float:
    return float(res.as_dict()["rate"])


def row(name: str, res: Any) -> str:
    d = res.as_dict()
    return (
        f"  {name:<8} {d['rate']:>9.0f}/s  p50 {d['p50_ms']:6.2f} ms  p99 {d['p99_ms']:6.2f} ms"
        f"  errors {d['errors']}  status {d['status']}"
    )


def serving(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "serve.db"
        store = registry.create("store", {"type": "sqlite", "path": str(db)}, "sqlite")
        users = seed(store, work)
        store.close()
        config = work / "settings.json"
        config.write_text(
            json.dumps(
                {
                    "store": {"type": "sqlite", "path": str(db)},
                    "policy": {"type": "thompson", "exploration": 0.05},
                    "signing_keys": {"k": "bench-secret"},
                }
            )
        )
        port = free_port()
        proc = start_server(config, port)
        try:
            reqs = requests_for(users)
            print(
                f"\nclosed loop, 16 connections: {ROUNDS} rounds of {seconds:g}s per endpoint,"
                " interleaved (the order reverses every round) so that machine noise hits"
                " every endpoint alike"
            )
            rounds: dict[str, list[Any]] = loadgen.run_in_process(
                "closed_rounds",
                host="127.0.0.1",
                port=port,
                targets=reqs,
                concurrency=16,
                duration_s=seconds,
                rounds=ROUNDS,
                # Longer than the event writer's interval: what one endpoint's decisions
                # leave to write is written before the next endpoint is measured.
                warmup_s=0.5,
            )
            for name, results in rounds.items():
                print(row(name, sorted(results, key=rate)[len(results) // 2]))
            for name in ("decide", "openrtb"):
                shares = sorted(
                    rate(r) / rate(n) for r, n in zip(rounds[name], rounds["noop"], strict=True)
                )
                share = statistics.median(shares)
                q1, q3 = shares[len(shares) // 4], shares[(3 * len(shares)) // 4]
                goal = ""  # the throughput goal is the decide endpoint's; OpenRTB is for scale
                if name == "decide":
                    verdict = "meets" if share >= SHARE_GOAL else "misses"
                    goal = f"; {verdict} the {SHARE_GOAL:.0%} goal"
                print(
                    f"  {name} / no-op throughput: {share:.2f}, median of the rounds' ratios "
                    f"(middle half {q1:.2f}-{q3:.2f}, range {shares[0]:.2f}-{shares[-1]:.2f}"
                    f"{goal})"
                )
            print(f"\nopen loop at {RATE}/s, {OPEN_S:g}s each (latency from scheduled send)")
            for name, rs in reqs.items():
                res = loadgen.run_in_process(
                    "open_loop",
                    host="127.0.0.1",
                    port=port,
                    requests=rs,
                    rate=RATE,
                    duration_s=OPEN_S,
                )
                print(row(name, res))
                if name != "noop":
                    p99 = res.as_dict()["p99_ms"]
                    verdict = "meets" if p99 <= P99_GOAL_MS else "misses"
                    print(f"  {name} p99 {p99:.2f} ms {verdict} the {P99_GOAL_MS:g} ms goal")
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def regret() -> None:
    here = Path(__file__).resolve().parent
    print("\nbandit regret (seeded simulation)")
    subprocess.run([sys.executable, str(here / "regret.py")], check=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    serving(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
    regret()
