"""Static HTML and JSON summaries of a pipeline run.

``index.html`` shows, per user, their history, the profile the Director built, and for
each product the plan next to the personalized video and the generic one, with the
Verifier's verdict. All paths are relative, so the output folder can be moved or served.
"""

from __future__ import annotations

import json
import os
import shutil
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

from adloom.domain import CreativePlan, User, UserProfile, Verdict
from adloom.io import write_text
from adloom.pipeline import CreativeResult, PairResult, RunResult

CSS = (resources.files("adloom") / "report.css").read_text(encoding="utf-8")


def _rel(path: Path | str, root: Path) -> str:
    return escape(os.path.relpath(Path(path), root).replace(os.sep, "/"))


def _swatches(colors: list[str]) -> str:
    return "".join(
        f'<span class="sw" title="{escape(c)}" style="background:{escape(c)}"></span>'
        for c in colors
    )


def _history(user: User, root: Path) -> str:
    if not user.history:
        return '<p class="muted">No interaction history.</p>'
    items = []
    media = root / "users" / user.id / "history"
    for h in user.history:
        img = ""
        if h.image:
            # Copy history images next to the report so the folder stays self-contained.
            src = Path(h.image)
            media.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, media / src.name)
            img = f'<img src="{_rel(media / src.name, root)}" alt="">'
        tags = "".join(f'<span class="pill">{escape(t)}</span>' for t in h.tags)
        items.append(
            f"<li>{img}<b>{escape(h.title)}</b> <span class='muted'>({escape(h.kind)})</span>"
            f"<br><span class='muted'>{escape(h.text)}</span> {tags}</li>"
        )
    return f'<ul class="history">{"".join(items)}</ul>'


def _profile(p: UserProfile) -> str:
    if not p.personalizable:
        return f'<div class="why">Not personalized: {escape(p.reason)}</div>'
    interests = "".join(
        f'<span class="pill {escape(i.tier)}">{escape(i.label)} · {i.weight:.2f}</span>'
        for i in p.interests
    )
    style = ", ".join(f"{escape(t.label)} {t.score:.2f}" for t in p.style[:3])
    needs = ", ".join(f"{escape(t.label)} {t.score:.2f}" for t in p.implicit_needs[:3])
    tend = ", ".join(f"{escape(t.label)} {t.score:.2f}" for t in p.decision_tendencies[:3])
    return (
        f"<p>{escape(p.summary)}</p>"
        f"<p><b>Interests</b> {interests}</p>"
        f"<p class='muted'><b>Tone</b> {escape(p.tone)} · <b>Style</b> {style}<br>"
        f"<b>Needs</b> {needs}<br><b>Decision tendencies</b> {tend}<br>"
        f"<b>Visual palette</b> {_swatches(p.visual.palette) or 'none (no images)'} "
        f"<b>Language</b> {escape(p.language)}</p>"
    )


def _scenes(plan: CreativePlan) -> str:
    rows = []
    for s in plan.scenes:
        rows.append(
            f"<tr><td>{s.index}</td><td>{escape(s.role)}</td>"
            f"<td>{s.start_s:g}–{s.end_s:g}s</td>"
            f"<td>{escape(s.on_screen_text.text) if s.on_screen_text else ''}</td>"
            f"<td>{escape(s.narration.text) if s.narration else ''}</td>"
            f"<td>{escape(s.camera)}</td><td>{escape(s.visual_description)}</td></tr>"
        )
    return (
        '<table class="scenes"><tr><th>#</th><th>role</th><th>time</th><th>on screen</th>'
        "<th>narration</th><th>camera</th><th>visual</th></tr>" + "".join(rows) + "</table>"
        f"<p class='muted'>CTA: {escape(plan.cta.text.text)} → {escape(plan.cta.url)} · "
        f"palette {_swatches(plan.palette)} · disclosure “{escape(plan.disclosure.text)}”</p>"
    )


def _verdict(v: Verdict) -> str:
    failed = [c for c in v.checks if not c.passed]
    detail = "".join(
        f"<li>{escape(c.name)}: {escape(c.message)}</li>" for c in (failed or v.checks)
    )
    return (
        f'<span class="{escape(v.decision)}">{escape(v.decision)}</span> '
        f"<span class='muted'>{escape(v.rationale)}</span>"
        f"<details><summary>{len(v.checks)} checks, {len(failed)} failed</summary>"
        f"<ul class='muted'>{detail}</ul></details>"
    )


def _rounds(res: CreativeResult) -> str:
    """The revise rounds a creative went through, one line each."""
    if res.refine is None:
        return ""
    items = []
    for r in res.refine.rounds:
        acts = ", ".join(
            escape(d.action + ("" if d.scene_index is None else f" scene {d.scene_index}"))
            for d in r.directives
        )
        scenes = (
            "full render"
            if r.rerendered_scenes is None
            else f"re-rendered scenes {r.rerendered_scenes or 'none'}"
        )
        failed = escape(", ".join(r.failed_checks)) or "nothing"
        items.append(
            f"<li>round {r.round}: <span class='{escape(r.decision)}'>{escape(r.decision)}"
            f"</span> · failed {failed}" + (f" → {acts} ({scenes})" if acts else "") + "</li>"
        )
    stop = escape(res.refine.stopped.replace("_", " "))
    return (
        f"<details><summary>Refined in {len(res.refine.rounds)} rounds ({stop})</summary>"
        f"<ol class='muted'>{''.join(items)}</ol></details>"
    )


def _audit(result: RunResult) -> str:
    a = result.audit
    if a is None:
        return ""
    status = "accept" if a.passed else "revise"
    findings = "".join(
        f"<li>{escape(f.kind)} · {escape(f.attribute)}={escape(f.group)}: {escape(f.message)}</li>"
        for f in a.findings
    )
    return (
        f"<section class='user'><h2>Fairness audit</h2><p><span class='{status}'>"
        f"{'passed' if a.passed else 'findings'}</span> <span class='muted'>"
        f"{escape(a.rationale)}</span></p>"
        + (f"<ul class='muted'>{findings}</ul>" if findings else "")
        + "</section>"
    )


def _video(res: CreativeResult, root: Path, title: str) -> str:
    poster = (
        f' poster="{_rel(res.directory / "thumbnail.png", root)}"'
        if (res.directory / "thumbnail.png").exists()
        else ""
    )
    return (
        f"<div><b>{escape(title)}</b><video controls muted loop preload='none'{poster} "
        f"src='{_rel(res.directory / 'creative.mp4', root)}'></video>{_verdict(res.verdict)}"
        f"{_rounds(res)}</div>"
    )


def _pair(pair: PairResult, generic: CreativeResult, root: Path) -> str:
    plan = pair.plan
    m = plan.matching
    head = (
        f"<h3>{escape(plan.product_id)} — compatibility {m.compatibility:.2f} "
        f"(threshold {m.threshold:.2f})</h3><p class='muted'>{escape(m.rationale)}</p>"
    )
    if pair.reused_generic:
        body = (
            '<div class="why">Generic creative shown: '
            f"{escape(m.rationale.removeprefix('generic: '))}</div>"
            f'<div class="videos">{_video(generic, root, "Generic (shown to this user)")}</div>'
        )
    else:
        body = (
            '<div class="videos">'
            f"{_video(pair.result, root, 'Personalized')}"
            f"{_video(generic, root, 'Generic baseline')}</div>"
        )
    return (
        f'<div class="pair">{head}{body}<details><summary>Plan: {len(plan.scenes)} scenes, '
        f"tone {escape(plan.tone)}</summary>{_scenes(plan)}"
        f"<p><a href='{_rel(pair.result.directory / 'plan.json', root)}'>plan.json</a></p>"
        "</details></div>"
    )


def write_index(result: RunResult, root: Path) -> Path:
    c = result.campaign
    nav = " ".join(f'<a href="#u-{escape(u.id)}">{escape(u.id)}</a>' for u in result.users)
    sections = []
    for user in result.users:
        profile = result.profiles[user.id]
        pairs = "".join(
            _pair(p, result.generic[p.product_id], root)
            for p in result.pairs
            if p.user_id == user.id
        )
        consent = "yes" if user.consent.personalization else "no"
        sections.append(
            f'<section class="user" id="u-{escape(user.id)}"><h2>{escape(user.id)}</h2>'
            f"<p class='muted'>personalization consent: {consent} · "
            f"{len(user.history)} history items</p>"
            f'<div class="grid"><div><h3>History</h3>{_history(user, root)}</div>'
            f"<div><h3>Profile</h3>{_profile(profile)}</div></div>{pairs}</section>"
        )
    n_pers = sum(not p.reused_generic for p in result.pairs)
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>adloom — {escape(c.name)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(c.name)}</h1><p>{escape(c.advertiser)} · objective "
        f"{escape(c.objective)} · {len(c.products)} products · {len(result.users)} users · "
        f"{n_pers} personalized creatives, {len(result.pairs) - n_pers} pairs on the generic "
        f"creative · {escape(result.context.aspect_ratio)} {result.context.duration_s:g}s · "
        "every creative is labelled AI-generated</p></header>"
        f"<nav>{nav}</nav>{''.join(sections)}{_audit(result)}</body></html>"
    )
    return write_text(root / "index.html", html)


def summary(result: RunResult, root: Path) -> dict[str, Any]:
    """Machine-readable overview of a run (paths relative to ``root``)."""

    def entry(res: CreativeResult) -> dict[str, Any]:
        return {
            "plan": os.path.relpath(res.directory / "plan.json", root),
            "video": os.path.relpath(res.directory / "creative.mp4", root),
            "decision": res.verdict.decision,
            "creative_id": res.creative.creative_id,
            "refine_rounds": 0 if res.refine is None else len(res.refine.rounds),
        }

    return {
        "campaign": result.campaign.id,
        "context": result.context.model_dump(),
        "generic": {pid: entry(r) for pid, r in result.generic.items()},
        "pairs": [
            {
                "user": p.user_id,
                "product": p.product_id,
                "kind": p.plan.kind,
                "compatibility": round(p.plan.matching.compatibility, 4),
                "reason": p.plan.matching.rationale,
                **entry(p.result),
            }
            for p in result.pairs
        ],
        "audit": None if result.audit is None else result.audit.model_dump(mode="json"),
    }


def write_summary(result: RunResult, root: Path) -> Path:
    return write_text(root / "summary.json", json.dumps(summary(result, root), indent=2) + "\n")
