"""The ad server over HTTP: decisions, VAST, OpenRTB, tracking and management."""

from __future__ import annotations

import gc
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tests.serving.helpers import (
    ADMIN_KEY,
    API_KEY,
    OTHER_KEY,
    Catalog,
    build,
    seed_store,
    settings,
)

from adloom.serving.api.decide import Answer, DecideResponse
from adloom.serving.app import create_app
from adloom.serving.catalog import key_hash
from adloom.serving.engine import TRACKED, AdServer, DecideRequest
from adloom.serving.openrtb import BidResponse
from adloom.serving.tracking import Signer, derive_key
from adloom.store import Advertiser, ConsentRecord, Counters, Unavailable

AUTH = {"Authorization": f"Bearer {API_KEY}"}
NS = {"v": "http://www.iab.com/VAST"}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def decide(client: Any, **body: Any) -> dict[str, Any]:
    r = client.post("/v1/decide", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def report(client: Any, campaign_id: str = "test-campaign") -> dict[str, Any]:
    r = client.get(f"/v1/campaigns/{campaign_id}/report", headers=AUTH)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


# --------------------------------------------------------------------------- decide


def test_consenting_user_gets_a_verified_creative_with_reason_and_propensity(
    client: Any, server: AdServer, catalog: Catalog
) -> None:
    out = decide(client, user_id="hiker")
    assert out["reason"] in {"exploration", "exploitation"}
    assert 0 < out["propensity"] <= 1
    assert out["policy"] == "thompson"
    ids = {b.record.creative_id for b in catalog.built if b.record.context.aspect_ratio == "16:9"}
    assert out["creative"]["creative_id"] in ids
    assert set(out["tracking"]) >= {"impression", "start", "complete", "skip", "click"}
    assert out["creative"]["disclosure"] == "AI-generated"
    assert server.log.flush(5.0)
    decisions, _ = server.store.history("acme", "test-campaign")
    logged = {d.decision_id: d for d in decisions}[out["decision_id"]]
    assert logged.propensity == pytest.approx(out["propensity"])
    assert logged.user_id == "hiker"
    assert set(logged.candidates) >= {out["arm"]}


def test_decide_answer_is_the_documented_shape_with_urls_signed_per_event(
    client: Any, server: AdServer
) -> None:
    """The answer is joined from a per-creative template: it must still be exactly the
    response model, with each URL a valid token for its own event only."""
    out = decide(client, user_id="hiker")
    assert DecideResponse.model_validate(out).model_dump() == out
    assert list(out["tracking"]) == [*TRACKED, "conversion"]
    base = server.settings.base_url.rstrip("/")
    now = time.time()
    for event, url in out["tracking"].items():
        assert url.startswith(f"{base}/v1/events/{event}?t=")
        claims = server.signer.verify(parse_qs(urlsplit(url).query)["t"][0], event)
        assert claims.decision_id == out["decision_id"]
        assert claims.creative_id == out["creative"]["creative_id"]
        ttl = server.settings.conversion_ttl_s if event == "conversion" else None
        assert claims.expires == pytest.approx(now + (ttl or server.settings.tracking_ttl_s), abs=5)
    click = out["creative"]["click_url"]
    assert click.startswith(f"{base}/v1/click?t=")
    assert urlsplit(click).query == urlsplit(out["tracking"]["click"]).query


def test_decide_answer_escapes_what_it_embeds(server: AdServer) -> None:
    """A base URL or creative field with JSON's special characters stays valid JSON."""
    odd = 'https://ads.test/a"b\\c\u2028'
    answer = Answer({"creative_id": 'cr-"x"', "disclosure": "AI\n"}, odd, ("click", "skip"))
    signed = server.signer.sign("d1", "acme", "camp", "cr-x")
    body = json.loads(answer.render({"decision_id": "d1", "detail": 'say "hi"'}, signed))
    assert body["detail"] == 'say "hi"'
    assert body["creative"]["creative_id"] == 'cr-"x"'
    assert body["creative"]["disclosure"] == "AI\n"
    assert body["creative"]["click_url"] == f"{odd}/v1/click?t={signed.token('click')}"
    events = ("click", "skip")
    assert body["tracking"] == {e: f"{odd}/v1/events/{e}?t={signed.token(e)}" for e in events}


def test_personalized_creatives_need_recorded_and_live_consent(client: Any) -> None:
    kinds = {decide(client, user_id="hiker")["creative"]["kind"] for _ in range(60)}
    assert kinds == {"personalized", "generic"}  # the bandit explores both arms
    for body in (
        {"user_id": "hiker", "consent": False},  # live withdrawal wins
        {"user_id": "private"},  # no consent on record
        {"user_id": "stranger"},  # unknown user
        {},  # anonymous
    ):
        seen = {decide(client, **body)["creative"]["kind"] for _ in range(20)}
        assert seen == {"generic"}, body


def test_aspect_ratio_selects_matching_creatives(client: Any, catalog: Catalog) -> None:
    out = decide(client, context={"aspect_ratio": "9:16", "platform": "reels"})
    assert out["creative"]["height"] > out["creative"]["width"]


def test_frequency_cap_and_fatigue(client: Any) -> None:
    r = client.patch(
        "/v1/campaigns/test-campaign",
        json={"frequency_cap": {"impressions_per_window": 3, "fatigue_after": 1}},
        headers=AUTH,
    )
    assert r.status_code == 200, r.text
    shown: list[str] = []
    for _ in range(3):
        out = decide(client, user_id="newbie")
        assert out["creative"] is not None
        shown.append(out["creative"]["creative_id"])
        assert client.get(path_of(out["tracking"]["impression"])).status_code == 204
    # fatigue: two generic 16:9 creatives, each rests after one impression until both have
    assert len(set(shown[:2])) == 2
    capped = decide(client, user_id="newbie")
    assert capped["creative"] is None
    assert capped["detail"] == "frequency cap reached"
    assert decide(client, user_id="hiker")["creative"] is not None  # caps are per user


class BrokenCounters(Counters):
    def get(self, keys: Sequence[str]) -> list[int]:
        raise Unavailable("redis down")

    def incr(self, keys: Sequence[str], ttl_s: int) -> None:
        raise Unavailable("redis down")


def test_counters_down_serves_the_generic_fallback(client: Any, server: AdServer) -> None:
    server.counters = BrokenCounters()
    out = decide(client, user_id="hiker")
    assert out["reason"] == "fallback"
    assert out["creative"]["kind"] == "generic"
    assert out["propensity"] == 1.0
    # the impression is still counted even though the counters cannot be bumped
    assert client.get(path_of(out["tracking"]["impression"])).status_code == 204
    assert report(client)["impressions"] == 1


def test_a_failing_policy_never_yields_a_blank(client: Any, server: AdServer) -> None:
    def boom(*args: Any) -> Any:
        raise RuntimeError("policy bug")

    server.policy.choose = boom  # type: ignore[method-assign]
    out = decide(client)
    assert out["reason"] == "fallback"
    assert out["creative"] is not None


def test_unknown_campaign_gets_no_creative(client: Any) -> None:
    out = decide(client, campaign_id="nope")
    assert out["creative"] is None
    assert out["decision_id"] is None


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ("{not json", 400, "malformed JSON"),
        ('{"user_id": "u", "colour": "red"}', 422, "colour: unknown field"),
        ('{"context": {"aspect_ratio": "4:3"}}', 422, "context.aspect_ratio: Input should be"),
        ('{"context": {"device": "fridge"}}', 422, "context.device: Input should be"),
        ('{"user_id": ""}', 422, "user_id: String should have at least 1 character"),
        ('{"consent": "maybe"}', 422, "consent: Input should be a valid boolean"),
        ("[]", 422, "body: Input should be an object"),
    ],
)
def test_bad_decide_requests_name_the_problem(
    client: Any, body: str, status: int, message: str
) -> None:
    r = client.post("/v1/decide", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert message in r.json()["detail"]
    assert "\n" not in r.json()["detail"]


# --------------------------------------------------------------------------- tracking


def test_events_are_signed_counted_once_and_reported(client: Any) -> None:
    out = decide(client, user_id="hiker")
    urls = out["tracking"]
    for event in ("impression", "start", "firstQuartile", "midpoint", "complete", "click"):
        r = client.get(path_of(urls[event]))
        assert r.status_code == 204
        assert r.headers["X-Adloom-Counted"] == "1"
    again = client.get(path_of(urls["impression"]))
    assert again.status_code == 204
    assert again.headers["X-Adloom-Counted"] == "0"
    rep = report(client)
    row = next(c for c in rep["creatives"] if c["creative_id"] == out["creative"]["creative_id"])
    assert (row["impressions"], row["starts"], row["completes"], row["clicks"]) == (1, 1, 1, 1)
    assert row["ctr"] == 1.0
    assert rep["impressions"] == 1


def test_forged_tampered_and_replayed_events_are_refused(client: Any, server: AdServer) -> None:
    out = decide(client, user_id="hiker")
    token = parse_qs(urlsplit(out["tracking"]["click"]).query)["t"][0]
    cases = [
        f"/v1/events/impression?t={token}",  # a click token used for another event
        f"/v1/events/click?t={token[:-2]}xx",  # signature tampered
        "/v1/events/click?t=bogus",  # not a token
    ]
    other = Signer({"k1": derive_key("someone-elses-secret")}, "k1")
    forged = other.token(out["decision_id"], "acme", "test-campaign", "cr-x", "click")
    cases.append(f"/v1/events/click?t={forged}")
    old = Signer(
        {"k1": derive_key("test-signing-secret")}, "k1", clock=lambda: time.time() - 10 * 86_400
    )
    replay = old.token(out["decision_id"], "acme", "test-campaign", "cr-x", "click")
    for path in cases:
        r = client.get(path)
        assert r.status_code == 403, path
        assert "signature" in r.json()["detail"]
    r = client.get(f"/v1/events/click?t={replay}")
    assert r.status_code == 403
    assert "expired" in r.json()["detail"]
    assert client.get(f"/v1/events/bogus?t={token}").status_code == 422
    assert report(client)["clicks"] == 0


def test_click_redirects_with_a_conversion_token(client: Any, catalog: Catalog) -> None:
    out = decide(client, user_id="hiker")
    r = client.get(path_of(out["creative"]["click_url"]), follow_redirects=False)
    assert r.status_code == 302
    landing = urlsplit(r.headers["location"])
    product = next(p for p in catalog.campaign.products if p.id == out["creative"]["product_id"])
    assert landing.hostname == urlsplit(product.landing_url).hostname
    conv = parse_qs(landing.query)["adloom_conv"][0]
    r = client.post(f"/v1/events/conversion?t={conv}&value=49.5")
    assert r.status_code == 204
    client.post(f"/v1/events/conversion?t={conv}&value=49.5")  # retried: counted once
    rep = report(client)
    assert (rep["clicks"], rep["conversions"], rep["revenue"]) == (1, 1, 49.5)


@pytest.mark.parametrize(("every", "at_once"), [(0.0, True), (3600.0, False)])
def test_events_feed_the_policy(catalog: Catalog, every: float, at_once: bool) -> None:
    from fastapi.testclient import TestClient

    srv = AdServer.from_settings(settings(learn_every_s=every))
    seed_store(srv.store, catalog)
    with TestClient(create_app(server=srv)) as client:

        def state() -> str:  # what the policy learned, without its random stream
            return json.dumps({**srv.policy.state(), "rng": None}, sort_keys=True)

        before = state()
        out = decide(client, user_id="hiker")
        for event in ("impression", "click"):
            assert client.get(path_of(out["tracking"][event])).status_code == 204
        assert (state() != before) is at_once
        # Batched feedback waits for the next fold, and nothing is lost meanwhile.
        assert srv.learn() == (0 if at_once else 2)
        assert state() != before
        assert srv.learn() == 0


# --------------------------------------------------------------------------- VAST


def test_vast_document_is_inline_signed_and_disclosed(client: Any) -> None:
    r = client.get("/vast/4", params={"user_id": "hiker"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.text)
    assert root.tag.endswith("VAST")
    assert root.get("version", "").startswith("4")
    text = r.text
    assert "UniversalAdId" in text
    assert "AdServingId" in text
    assert "AI-generated" in text
    impressions = [e.text for e in root.iter() if e.tag.endswith("Impression")]
    assert impressions
    assert client.get(path_of(impressions[0] or "")).status_code == 204
    media = [e.text for e in root.iter() if e.tag.endswith("MediaFile")]
    got = client.get(path_of((media[0] or "").strip()))
    assert got.status_code == 200
    assert got.headers["content-type"] == "video/mp4"


def test_vast_without_an_eligible_ad_is_an_empty_document(client: Any) -> None:
    r = client.get("/vast/4", params={"campaign_id": "nope"})
    assert r.status_code == 200
    root = ET.fromstring(r.text)
    assert not [e for e in root.iter() if e.tag.endswith("Ad")]


# --------------------------------------------------------------------------- OpenRTB


def bid_request(**over: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "id": "req-1",
        "imp": [
            {
                "id": "1",
                "video": {
                    "mimes": ["video/mp4"],
                    "minduration": 1,
                    "maxduration": 30,
                    "protocols": [7, 13],
                    "w": 1280,
                    "h": 720,
                },
                "bidfloor": 1.0,
                "bidfloorcur": "USD",
            }
        ],
        "site": {"id": "s1", "domain": "news.example"},
        "device": {"devicetype": 2, "ua": "Mozilla/5.0"},
        "user": {"id": "hiker"},
        "tmax": 120,
        "cur": ["USD"],
    }
    req.update(over)
    return req


def test_openrtb_bid_carries_vast_in_adm(client: Any) -> None:
    r = client.post("/openrtb/2.6/bid", json=bid_request())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "req-1"
    bid = body["seatbid"][0]["bid"][0]
    assert bid["impid"] == "1"
    assert bid["price"] >= 1.0
    assert bid["mtype"] == 2
    root = ET.fromstring(bid["adm"])
    assert root.tag.endswith("VAST")
    assert bid["crid"] in bid["adm"]
    # The hand-built body is exactly what the OpenRTB response model would write.
    model = BidResponse.model_validate(body)
    assert model.model_dump(mode="json", exclude_none=True) == body
    assert body["bidid"] == bid["id"] == root.find("v:Ad", NS).get("id")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "over",
    [
        {"imp": [{"id": "1", "banner": {"w": 300, "h": 250}}]},  # no video
        {"tmax": 1},  # no time left
        {"cur": ["EUR"]},  # we bid in USD only
    ],
)
def test_openrtb_no_bid_is_204(client: Any, over: dict[str, Any]) -> None:
    r = client.post("/openrtb/2.6/bid", json=bid_request(**over))
    assert r.status_code == 204


def test_openrtb_floor_mime_and_duration_are_respected(client: Any) -> None:
    for video_over, floor in (
        ({"mimes": ["video/webm"]}, 1.0),
        ({"maxduration": 2}, 1.0),
        ({}, 50.0),
    ):
        req = bid_request()
        req["imp"][0]["video"].update(video_over)
        req["imp"][0]["bidfloor"] = floor
        assert client.post("/openrtb/2.6/bid", json=req).status_code == 204, video_over


def test_openrtb_children_and_gdpr_without_consent_get_generic(client: Any) -> None:
    for over in ({"regs": {"coppa": 1}}, {"regs": {"gdpr": 1}}):
        kinds = set()
        for _ in range(15):
            r = client.post("/openrtb/2.6/bid", json=bid_request(**over))
            bid = r.json()["seatbid"][0]["bid"][0]
            kinds.add("personalized" if "personalized" in bid["adm"] else "generic")
        assert kinds == {"generic"}, over


@pytest.mark.parametrize(
    ("mutate", "status", "message"),
    [
        (lambda r: r.pop("imp"), 422, "imp: Field required"),
        (lambda r: r.update(id=""), 422, "id:"),
        (lambda r: r.update(wat=1), 422, "wat: unknown field"),
        (lambda r: r["imp"][0]["video"].pop("mimes"), 422, "imp.0.video.mimes: Field required"),
        (lambda r: r.update(tmax="soon"), 422, "tmax:"),
        (lambda r: r.update(app={"id": "a"}), 422, "site"),
    ],
)
def test_invalid_openrtb_requests_name_the_problem(
    client: Any, mutate: Any, status: int, message: str
) -> None:
    req = bid_request()
    mutate(req)
    r = client.post("/openrtb/2.6/bid", json=req)
    assert r.status_code == status, r.text
    assert message in r.json()["detail"]


def test_openrtb_malformed_json_is_400(client: Any) -> None:
    r = client.post(
        "/openrtb/2.6/bid", content=b'{"id": "x", imp', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["detail"].startswith("malformed JSON")


# --------------------------------------------------------------------------- management


@pytest.fixture
def two_advertisers(server: AdServer, catalog: Catalog, planner: Any, tmp_path: Any) -> Catalog:
    other = build(
        planner,
        catalog.campaign.model_copy(update={"id": "rival-campaign"}),
        [],
        tmp_path / "rival",
        advertiser="rival",
    )
    seed_store(server.store, other, advertiser="rival", key=OTHER_KEY)
    server.catalog.refresh()
    return other


def test_management_needs_a_key(client: Any) -> None:
    assert client.get("/v1/campaigns").status_code == 401
    r = client.get("/v1/campaigns", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json()["detail"] == "unknown API key"


def test_advertisers_never_see_each_other(client: Any, two_advertisers: Catalog) -> None:
    mine = client.get("/v1/campaigns", headers=AUTH).json()
    assert [c["campaign_id"] for c in mine] == ["test-campaign"]
    rival = {"Authorization": f"Bearer {OTHER_KEY}"}
    theirs = client.get("/v1/campaigns", headers=rival).json()
    assert [c["campaign_id"] for c in theirs] == ["rival-campaign"]
    for method, path, body in (
        ("GET", "/v1/campaigns/test-campaign", None),
        ("GET", "/v1/campaigns/test-campaign/creatives", None),
        ("GET", "/v1/campaigns/test-campaign/report", None),
        ("PATCH", "/v1/campaigns/test-campaign", {"status": "paused"}),
    ):
        r = client.request(method, path, headers=rival, json=body)
        assert r.status_code == 404, (method, path)
    assert client.get("/v1/campaigns/test-campaign", headers=AUTH).json()["status"] == "active"


def test_campaign_lifecycle(client: Any, catalog: Catalog) -> None:
    camp = catalog.campaign.model_copy(update={"id": "autumn"})
    body = {"campaign": json.loads(camp.model_dump_json()), "bid_cpm": 7.5}
    r = client.post("/v1/campaigns", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["creatives"] == 0
    assert client.post("/v1/campaigns", json=body, headers=AUTH).status_code == 409
    built = catalog.built[0]
    plan = built.plan.model_copy(update={"campaign_id": "autumn"})
    up = {
        "plan": json.loads(plan.model_dump_json()),
        "creative": json.loads(built.creative.model_dump_json()),
        "verdict": json.loads(built.verdict.model_dump_json()),
        "media_path": built.creative.path,
    }
    r = client.post("/v1/campaigns/autumn/creatives", json=up, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["decision"] == "accept"
    assert client.get("/v1/campaigns/autumn", headers=AUTH).json()["creatives"] == 1
    out = decide(client, campaign_id="autumn")
    assert out["creative"]["campaign_id"] == "autumn"
    r = client.patch("/v1/campaigns/autumn", json={"status": "paused"}, headers=AUTH)
    assert r.json()["status"] == "paused"
    assert decide(client, campaign_id="autumn")["creative"] is None


def test_bad_creative_uploads_are_4xx(client: Any, catalog: Catalog) -> None:
    built = catalog.built[0]
    good = {
        "plan": json.loads(built.plan.model_dump_json()),
        "creative": json.loads(built.creative.model_dump_json()),
        "verdict": json.loads(built.verdict.model_dump_json()),
        "media_path": built.creative.path,
    }
    cases = [
        ({"media_path": "/no/such/file.mp4"}, "media file not found"),
        ({"verdict": {**good["verdict"], "creative_id": "other"}}, "verdict.creative_id"),
        ({"plan": {**good["plan"], "campaign_id": "elsewhere"}}, "plan.campaign_id"),
        ({"extra": 1}, "extra: unknown field"),
    ]
    for change, message in cases:
        r = client.post(
            "/v1/campaigns/test-campaign/creatives", json={**good, **change}, headers=AUTH
        )
        assert r.status_code == 422, change
        assert message in r.json()["detail"]


def test_consent_changes_take_effect(client: Any) -> None:
    r = client.put("/v1/consents/hiker", json={"personalization": False}, headers=AUTH)
    assert r.status_code == 200
    kinds = {decide(client, user_id="hiker")["creative"]["kind"] for _ in range(20)}
    assert kinds == {"generic"}


def test_admin_creates_advertisers(client: Any) -> None:
    body = {"id": "newco", "name": "New Co"}
    assert client.post("/v1/advertisers", json=body).status_code == 401
    r = client.post("/v1/advertisers", json=body, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 201
    key = r.json()["api_key"]
    listed = client.get("/v1/campaigns", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    assert listed.json() == []


def test_prerender_fills_the_gap_outside_the_request_path(
    server: AdServer, catalog: Catalog, planner: Any
) -> None:
    from adloom.serving.prerender import Job, Prerenderer

    calls: list[Job] = []
    vertical = next(b.record for b in catalog.built if b.record.kind == "personalized").model_copy(
        update={
            "creative_id": "cr-hiker-vertical",
            "context": catalog.campaign.contexts[0].model_copy(update={"aspect_ratio": "9:16"}),
        }
    )

    def render(job: Job) -> list[Any]:
        calls.append(job)
        return [vertical]

    server.prerender = Prerenderer(render, server.store, server.catalog.refresh)
    server.prerender.start()
    request = DecideRequest.model_validate(
        {"user_id": "hiker", "context": {"aspect_ratio": "9:16"}}
    )
    first = server.decide(request)
    assert first.served is not None
    assert first.served.record.kind == "generic"  # served at once, nothing rendered inline
    assert server.prerender.wait_idle(10.0)
    assert calls == [Job("acme", "test-campaign", "hiker", "9:16")]
    ids = {server.decide(request).served.record.creative_id for _ in range(40)}  # type: ignore[union-attr]
    assert "cr-hiker-vertical" in ids


def test_unknown_keys_cannot_make_the_server_reread_the_store(
    client: Any, server: AdServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from adloom.serving import catalog as catalog_module

    loads: list[int] = []
    real = catalog_module.Snapshot.load

    def counting(store: Any) -> Any:
        loads.append(1)
        return real(store)

    monkeypatch.setattr(catalog_module.Snapshot, "load", staticmethod(counting))
    server.catalog.loaded_at = 0.0  # as if the snapshot were old
    for i in range(20):
        r = client.get("/v1/campaigns", headers={"Authorization": f"Bearer guess-{i}"})
        assert r.status_code == 401
    assert loads == []  # the catalog revision had not moved: nothing to re-read
    # A key minted by another process sharing the store is found on its first use.
    server.store.put(Advertiser(id="newcomer", name="New", key_hashes=[key_hash("fresh-key")]))
    server.catalog.loaded_at = 0.0
    r = client.get("/v1/campaigns", headers={"Authorization": "Bearer fresh-key"})
    assert r.status_code == 200
    assert len(loads) == 1
    for i in range(20):
        client.get("/v1/campaigns", headers={"Authorization": f"Bearer guess-{i}"})
    assert len(loads) == 1  # and at most once a second however many keys are guessed


def test_periodic_refresh_reloads_only_a_changed_catalog(server: AdServer) -> None:
    catalog = server.catalog
    before = catalog.snapshot
    assert catalog.refresh(if_changed=True) is False
    assert catalog.snapshot is before  # nothing written: the same objects keep serving
    adv = next(iter(before.advertisers))
    # A write through the store, as another server process sharing it would make.
    server.store.put(ConsentRecord(advertiser_id=adv, user_id="late", personalization=True))
    assert catalog.refresh(if_changed=True) is True
    assert (adv, "late") in catalog.snapshot.consent
    assert catalog.refresh() is True  # an explicit refresh always reloads


def test_pending_decisions_are_invisible_to_the_collector(server: AdServer) -> None:
    served = [server.decide(DecideRequest(user_id=f"u{i}")).served for i in range(5)]
    gc.collect()
    for s in served:
        assert s is not None
        # Kept until their events arrive (up to max_pending of them): full collections
        # must not have to walk them.
        assert not gc.is_tracked(server._pending[s.decision.decision_id])


def test_serving_shortens_the_thread_switch_interval_and_restores_it(catalog: Catalog) -> None:
    """Background threads may hold the GIL from requests for one switch interval at most."""
    from fastapi.testclient import TestClient

    srv = AdServer.from_settings(settings(switch_interval_ms=0.25))
    seed_store(srv.store, catalog)
    before = sys.getswitchinterval()
    with TestClient(create_app(server=srv)) as client:
        assert sys.getswitchinterval() == pytest.approx(0.00025)
        decide(client, user_id="hiker")
    assert sys.getswitchinterval() == before


def test_answers_follow_a_creative_replaced_in_the_catalog(
    client: Any, server: AdServer, catalog: Catalog
) -> None:
    """The per-creative part of an answer is reused, but never past a catalog change."""
    assert decide(client)["creative"]["disclosure"] == "AI-generated"
    for b in catalog.built:
        c = b.record.creative.model_copy(update={"disclosure_text": "Made with AI"})
        server.store.put(b.record.model_copy(update={"creative": c}))
    server.catalog.refresh()
    assert {decide(client)["creative"]["disclosure"] for _ in range(5)} == {"Made with AI"}
