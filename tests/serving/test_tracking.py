"""Signed tracking tokens: only adloom's own, unexpired tokens for the right event count."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import parse_qs, urlsplit

import pytest

from adloom.domain import EVENT_TYPES
from adloom.errors import AdloomError, InputError
from adloom.serving.tracking import (
    MAC_BYTES,
    Expired,
    Forged,
    Signer,
    TrackingClaims,
    TrackingError,
    derive_key,
    generate_secret,
    tracking_urls,
)

KEY1 = b"k1-secret-0123456789abcdef"
KEY2 = b"k2-secret-fedcba9876543210"
IDS = ("dec-0001", "acme", "spring-sale", "cr-summit-hiker")
NOW = 1_750_000_000.0


class Clock:
    """A settable clock, so expiry is tested without waiting."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signer(clock: Clock) -> Signer:
    return Signer({"k1": KEY1}, "k1", ttl_s=3600, clock=clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(kid: str, key: bytes, claims: bytes, event: str = "click") -> str:
    """A token in adloom's documented layout, built independently of the implementation."""
    head = f"{kid}.{b64(claims)}~"
    prefix = b"adloom tracking tags v2" + len(key).to_bytes(2, "big") + key
    prefix += bytes(-len(prefix) % 136)
    out = hashlib.shake_256(prefix + head.encode()).digest(MAC_BYTES * len(EVENT_TYPES))
    slot = EVENT_TYPES.index(event)
    return f"{head}{event}.{b64(out[slot * MAC_BYTES : (slot + 1) * MAC_BYTES])}"


# --------------------------------------------------------------------------- round trip


def test_round_trip_returns_the_signed_claims(signer: Signer) -> None:
    token = signer.token(*IDS, "impression")
    claims = signer.verify(token, "impression")
    assert claims == TrackingClaims(
        decision_id="dec-0001",
        advertiser_id="acme",
        campaign_id="spring-sale",
        creative_id="cr-summit-hiker",
        event="impression",
        expires=int(NOW) + 3600,
    )


@pytest.mark.parametrize("event", EVENT_TYPES)
def test_every_event_type_round_trips(signer: Signer, event: str) -> None:
    assert signer.verify(signer.token(*IDS, event), event).event == event


def test_token_is_url_safe_compact_and_in_the_documented_layout(signer: Signer) -> None:
    long_ids = ("d" * 64, "a" * 64, "c" * 64, "r" * 64)
    token = signer.token(*long_ids, "conversion")
    assert len(token) < 512  # the HTTP layer's limit on ``t``
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+~[A-Za-z]+\.[A-Za-z0-9_-]+", token)
    kid, body, mac = token.split(".")
    claims, event = body.split("~")
    assert (kid, event) == ("k1", "conversion")
    assert len(unb64(mac)) == MAC_BYTES >= 16  # at least 128 bits of signature
    expires = int(NOW) + 3600
    assert unb64(claims).decode() == "|".join((*long_ids, str(expires)))
    assert token == sign("k1", KEY1, unb64(claims), "conversion")


def test_one_decision_signs_its_events_at_once(signer: Signer) -> None:
    batch = signer.tokens(*IDS, ["impression", "click"])
    assert batch == {e: signer.token(*IDS, e) for e in ("impression", "click")}
    assert signer.verify(batch["click"], "click").event == "click"


def test_conversions_get_a_second_expiry_in_the_same_claims(signer: Signer, clock: Clock) -> None:
    tokens = signer.tokens(*IDS, ["click", "conversion"], conversion_ttl_s=7 * 86_400)
    heads = {t.rpartition("~")[0] for t in tokens.values()}
    assert len(heads) == 1  # one hash signs both
    claims = unb64(heads.pop().partition(".")[2]).decode()
    assert claims == "|".join((*IDS, str(int(NOW) + 3600), str(int(NOW) + 7 * 86_400)))
    assert tokens["conversion"] == sign("k1", KEY1, claims.encode(), "conversion")
    clock.now += 2 * 3600  # past the click's lifetime, within the conversion's
    with pytest.raises(Expired):
        signer.verify(tokens["click"], "click")
    assert signer.verify(tokens["conversion"], "conversion").expires == int(NOW) + 7 * 86_400


def test_tokens_of_the_five_field_layout_still_verify(signer: Signer) -> None:
    """Tokens handed out before conversions had their own expiry keep counting."""
    claims = "|".join((*IDS, str(int(NOW) + 60))).encode()
    for event in ("click", "conversion"):
        assert signer.verify(sign("k1", KEY1, claims, event), event).expires == int(NOW) + 60


def test_signed_tokens_match_the_token_api(signer: Signer) -> None:
    signed = signer.sign(*IDS)
    assert {e: signed.token(e) for e in EVENT_TYPES} == signer.tokens(*IDS, EVENT_TYPES)
    with pytest.raises(ValueError, match="event: unknown event type 'hover'"):
        signed.token("hover")


@pytest.mark.parametrize(
    "claims",
    [
        "|".join((*IDS, "1750003600", "x")),  # a non-numeric conversion expiry
        "|".join((*IDS, "1750003600", "1", "2")),  # seven fields
        "|".join(IDS),  # no expiry
    ],
)
def test_malformed_claims_are_forged_even_when_signed(signer: Signer, claims: str) -> None:
    with pytest.raises(Forged, match="payload is malformed"):
        signer.verify(sign("k1", KEY1, claims.encode(), "conversion"), "conversion")


def test_tokens_differ_per_event_and_per_decision(signer: Signer) -> None:
    tokens = {signer.token(*IDS, e) for e in EVENT_TYPES}
    assert len(tokens) == len(EVENT_TYPES)
    assert signer.token(*IDS, "click") != signer.token("dec-0002", *IDS[1:], "click")
    assert signer.token(*IDS, "click") == signer.token(*IDS, "click")  # deterministic


# --------------------------------------------------------------------------- forgery


def test_token_for_one_event_is_refused_for_another(signer: Signer) -> None:
    token = signer.token(*IDS, "impression")
    with pytest.raises(Forged, match="tracking token is for 'impression', not 'click'"):
        signer.verify(token, "click")


def test_tampered_payload_is_forged(signer: Signer) -> None:
    kid, body, mac = signer.token(*IDS, "impression").split(".")
    claims, event = body.split("~")
    fields = unb64(claims).decode().split("|")
    for i, value in [(0, "dec-9999"), (4, str(int(NOW) + 10**9))]:
        edited = list(fields)
        edited[i] = value
        forged = f"{kid}.{b64('|'.join(edited).encode())}~{event}.{mac}"
        with pytest.raises(Forged, match="signature does not match"):
            signer.verify(forged, event)
    with pytest.raises(Forged, match="signature does not match"):
        signer.verify(f"{kid}.{claims}~click.{mac}", "click")  # event swapped


def test_tags_of_one_decision_are_not_interchangeable(signer: Signer) -> None:
    """All events of a decision share one hash; each token must still carry its own slice."""
    tokens = signer.tokens(*IDS, EVENT_TYPES)
    tags = {e: t.rpartition(".")[2] for e, t in tokens.items()}
    assert len(set(tags.values())) == len(EVENT_TYPES)
    for event, token in tokens.items():
        head = token.rpartition(".")[0]
        for other, tag in tags.items():
            if other != event:
                with pytest.raises(Forged, match="signature does not match"):
                    signer.verify(f"{head}.{tag}", event)


def test_tampered_signature_is_forged(signer: Signer) -> None:
    token = signer.token(*IDS, "click")
    kid, payload, mac = token.split(".")
    raw = unb64(mac)
    for i in (0, MAC_BYTES - 1):
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        with pytest.raises(Forged, match="signature does not match"):
            signer.verify(f"{kid}.{payload}.{b64(bytes(flipped))}", "click")
    with pytest.raises(Forged, match="signature does not match"):
        signer.verify(f"{kid}.{payload}.{mac[:-1]}", "click")  # truncated
    with pytest.raises(Forged, match="signature does not match"):
        signer.verify(f"{kid}.{payload}.{b64(raw + b'x')}", "click")  # extended


def test_same_key_id_other_secret_is_forged(signer: Signer, clock: Clock) -> None:
    other = Signer({"k1": b"someone-elses-secret-000"}, "k1", clock=clock)
    with pytest.raises(Forged, match="signature does not match"):
        signer.verify(other.token(*IDS, "click"), "click")


def test_unknown_key_id_is_forged(signer: Signer, clock: Clock) -> None:
    other = Signer({"k9": KEY1}, "k9", clock=clock)  # even with the same key material
    with pytest.raises(Forged, match="unknown key"):
        signer.verify(other.token(*IDS, "click"), "click")


def test_swapping_the_key_id_is_forged(clock: Clock) -> None:
    both = Signer({"k1": KEY1, "k2": KEY2}, "k1", clock=clock)
    _, payload, mac = both.token(*IDS, "click").split(".")
    with pytest.raises(Forged, match="signature does not match"):
        both.verify(f"k2.{payload}.{mac}", "click")


def test_validly_signed_garbage_payload_is_forged(signer: Signer) -> None:
    for payload in [
        b"dec|acme|camp|cr",  # a field short
        b"dec|acme|camp|cr|soon",  # expiry not a number
        b"dec|acme|camp|cr|1|extra",  # a field too many
        b"\xff\xfe",  # not UTF-8
    ]:
        with pytest.raises(Forged, match="payload is malformed"):
            signer.verify(sign("k1", KEY1, payload), "click")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "bogus",
        "k1",
        "k1.",
        "k1..",
        "..",
        ".payload.mac",
        "k1.payload.",
        "k1..mac",
        "k1.pay.load.mac",
        "k1.!!!.###",
        "k1.cGF5bG9hZA.bWFj",
        "unknown.cGF5bG9hZA.bWFj",
        "k1.cGF5bG9hZA.bWFj\n",
        "k1 .cGF5bG9hZA.bWFj",
        "k1.cGF5bG9hZA.bWFj%00",
        "k1.é.é",
    ],
)
def test_malformed_tokens_are_forged(signer: Signer, token: str) -> None:
    with pytest.raises(Forged):
        signer.verify(token, "click")


def test_errors_are_one_line_adloom_errors(signer: Signer) -> None:
    for token, event in [("bogus", "click"), (signer.token(*IDS, "click"), "impression")]:
        with pytest.raises(TrackingError) as info:
            signer.verify(token, event)
        assert isinstance(info.value, AdloomError)
        assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- expiry


def test_expired_token_is_refused_as_expired(signer: Signer, clock: Clock) -> None:
    token = signer.token(*IDS, "click")
    clock.now = NOW + 3600  # the last valid second
    assert signer.verify(token, "click").expires == int(NOW) + 3600
    clock.now = NOW + 3601
    with pytest.raises(Expired, match="expired") as info:
        signer.verify(token, "click")
    assert not isinstance(info.value, Forged)
    assert isinstance(info.value, TrackingError)


def test_replayed_old_url_is_expired(clock: Clock) -> None:
    past = Clock(NOW - 10 * 86_400)
    old = Signer({"k1": KEY1}, "k1", clock=past)
    now = Signer({"k1": KEY1}, "k1", clock=clock)
    with pytest.raises(Expired):
        now.verify(old.token(*IDS, "impression"), "impression")


def test_forgery_is_reported_before_expiry(signer: Signer, clock: Clock) -> None:
    token = signer.token(*IDS, "click")
    clock.now = NOW + 10**6
    with pytest.raises(Forged):
        signer.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "click")
    with pytest.raises(Forged):
        signer.verify(token, "impression")


def test_per_token_ttl(signer: Signer, clock: Clock) -> None:
    long = signer.token(*IDS, "conversion", ttl_s=30 * 86_400)
    short = signer.token(*IDS, "click", ttl_s=60)
    clock.now = NOW + 61
    with pytest.raises(Expired):
        signer.verify(short, "click")
    clock.now = NOW + 29 * 86_400
    assert signer.verify(long, "conversion").expires == int(NOW) + 30 * 86_400


# --------------------------------------------------------------------------- rotation


def test_rotation_old_keys_verify_only_the_active_key_signs(clock: Clock) -> None:
    before = Signer({"k1": KEY1}, "k1", clock=clock)
    old_token = before.token(*IDS, "impression")
    after = Signer({"k1": KEY1, "k2": KEY2}, "k2", clock=clock)
    assert after.verify(old_token, "impression").decision_id == "dec-0001"
    new_token = after.token(*IDS, "impression")
    assert new_token.startswith("k2.")
    assert after.verify(new_token, "impression").decision_id == "dec-0001"
    with pytest.raises(Forged, match="unknown key"):
        before.verify(new_token, "impression")
    retired = Signer({"k2": KEY2}, "k2", clock=clock)
    with pytest.raises(Forged, match="unknown key"):
        retired.verify(old_token, "impression")
    assert after.key_ids == ("k1", "k2")


# --------------------------------------------------------------------------- construction


def test_from_secret_derives_a_stable_key_and_key_id(clock: Clock) -> None:
    a = Signer.from_secret("correct horse battery staple", clock=clock)
    b = Signer.from_secret(b"correct horse battery staple", clock=clock)
    assert a.active == b.active
    assert re.fullmatch(r"[A-Za-z0-9_-]{8}", a.active)
    assert b.verify(a.token(*IDS, "start"), "start").event == "start"
    c = Signer.from_secret("another secret", clock=clock)
    assert c.active != a.active
    with pytest.raises(Forged):
        c.verify(a.token(*IDS, "start"), "start")
    named = Signer.from_secret("correct horse battery staple", key_id="main", clock=clock)
    assert named.active == "main"
    assert derive_key("x") == derive_key(b"x") != derive_key("y")
    assert len(derive_key("x")) == 32


def test_generated_secrets_are_random_and_usable() -> None:
    secrets = {generate_secret() for _ in range(20)}
    assert len(secrets) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", s) for s in secrets)
    signer = Signer({"k1": next(iter(secrets)).encode()}, "k1")
    assert signer.verify(signer.token(*IDS, "click"), "click").creative_id == IDS[3]


@pytest.mark.parametrize(
    ("keys", "active", "ttl", "message"),
    [
        ({}, "k1", 60, "signing_keys: at least one key is required"),
        ({"k1": b"short"}, "k1", 60, "signing_keys.k1: shorter than 16 bytes"),
        ({"k1": KEY1}, "k2", 60, "active_key: 'k2' is not one of the signing keys"),
        ({"k1": KEY1}, "k1", 0, "ttl_s: must be positive"),
        (
            {"k.1": KEY1},
            "k.1",
            60,
            "signing_keys.k.1: key ids are 1-32 of A-Z a-z 0-9 _ - (they go in URLs)",
        ),
    ],
)
def test_bad_configuration_is_named(
    keys: dict[str, bytes], active: str, ttl: int, message: str
) -> None:
    with pytest.raises(InputError) as info:
        Signer(keys, active, ttl_s=ttl)
    assert str(info.value) == message


def test_empty_secret_is_refused() -> None:
    with pytest.raises(InputError, match=r"^secret: must not be empty$"):
        Signer.from_secret("")


def test_token_refuses_what_it_cannot_sign_unambiguously(signer: Signer) -> None:
    with pytest.raises(ValueError, match="unknown event type 'view'"):
        signer.token(*IDS, "view")
    with pytest.raises(ValueError, match="campaign_id: must be non-empty"):
        signer.token("dec", "acme", "a|b", "cr", "click")
    with pytest.raises(ValueError, match="decision_id: must be non-empty"):
        signer.token("", "acme", "camp", "cr", "click")


# --------------------------------------------------------------------------- URLs


def test_tracking_urls_are_signed_per_event(signer: Signer, clock: Clock) -> None:
    events = ["impression", "start", "firstQuartile", "midpoint", "complete", "click"]
    urls = tracking_urls(signer, "https://ads.test/", *IDS, events)
    assert list(urls) == events
    for event, link in urls.items():
        parts = urlsplit(link)
        assert (parts.scheme, parts.netloc, parts.path) == (
            "https",
            "ads.test",
            f"/v1/events/{event}",
        )
        (token,) = parse_qs(parts.query)["t"]
        claims = signer.verify(token, event)
        assert (claims.decision_id, claims.creative_id) == (IDS[0], IDS[3])
        assert claims.expires == int(NOW) + 3600
    tokens = [parse_qs(urlsplit(u).query)["t"][0] for u in urls.values()]
    with pytest.raises(Forged):
        signer.verify(tokens[0], "start")  # the impression URL's token is not a start


def test_conversion_urls_get_their_own_lifetime(signer: Signer) -> None:
    urls = tracking_urls(
        signer, "https://ads.test", *IDS, ["click", "conversion"], conversion_ttl_s=7 * 86_400
    )
    click = signer.verify(parse_qs(urlsplit(urls["click"]).query)["t"][0], "click")
    conv = signer.verify(parse_qs(urlsplit(urls["conversion"]).query)["t"][0], "conversion")
    assert click.expires == int(NOW) + 3600
    assert conv.expires == int(NOW) + 7 * 86_400
