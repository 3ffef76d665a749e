"""Signed tracking URLs: players and advertisers report events, adloom believes only its own.

A tracking URL carries everything adloom needs to count the event (decision, advertiser,
campaign, creative, event type, expiry) plus a MAC over exactly those bytes, so counting
needs no lookup and a forged or edited URL is refused. The event type is inside
the signed bytes: an impression URL cannot be replayed as a click. The expiry bounds
replays of old URLs; exact duplicates within the lifetime are the event log's job.

Token layout (URL-safe, no padding):
``{key_id}.{base64url(claims)}~{event}.{base64url(tag)}``, where the claims are
``decision|advertiser|campaign|creative|expires``, plus ``|expires`` of conversions when
they get a lifetime of their own. The tags come from a keyed SHAKE256
(KMAC-style: the length-prefixed key fills the first block, then the bytes before the
event): its output is cut into one 144-bit slice per event type, in a fixed order, and
each event's token carries its own slice. So the tag still binds the event (another
event's slice is unrelated output), while all the URLs of one decision cost one hash and
one encoding: 18-byte slices encode to exactly 24 characters, so the encoded output is
cut instead of each tag encoded alone. Several keys may verify while one signs, so keys
rotate without breaking URLs already handed out.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from adloom.domain import EVENT_TYPES
from adloom.errors import AdloomError, InputError

#: Bytes of tag in a token (144 bits: forging one is out of reach; a multiple of 3 so that
#: each tag is a whole number of base64 characters).
MAC_BYTES: Final = 18
_TAG_CHARS: Final = MAC_BYTES * 4 // 3
#: Each event type's slice of the keyed hash output.
_SLOT: Final = {e: i * _TAG_CHARS for i, e in enumerate(EVENT_TYPES)}
_OUTPUT_BYTES: Final = MAC_BYTES * len(EVENT_TYPES)
#: SHAKE256's rate: the keyed prefix is padded to it, so it is absorbed as a block of its own.
_RATE: Final = 136
_MAC_LABEL: Final = b"adloom tracking tags v2"
#: Shortest signing key accepted: a short key is guessable offline from any one URL.
MIN_KEY_BYTES: Final = 16
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SEP = "|"
#: Separates the shared, encoded claims from the event name (URL-safe, not base64url).
_EV = "~"
_ID_FIELDS = ("decision_id", "advertiser_id", "campaign_id", "creative_id")
_DERIVE_LABEL = b"adloom tracking key v1"


class TrackingError(AdloomError):
    """A tracking token that must not be counted."""


class Forged(TrackingError):  # noqa: N818 - reads as "raise Forged(...)"
    """Not signed by adloom: bad signature, unknown key, malformed, or for another event."""


class Expired(TrackingError):  # noqa: N818
    """Signed by adloom but past its expiry: an old URL replayed."""


@dataclass(frozen=True, slots=True)
class TrackingClaims:
    """What a verified token says happened."""

    decision_id: str
    advertiser_id: str
    campaign_id: str
    creative_id: str
    event: str
    expires: int


class Signed(NamedTuple):
    """One decision's signatures: what its every token starts with, and every event's tag.

    An event's token is ``{head}{event}.{tag}``; :func:`tag_span` says where its tag lies
    in ``tags``. Templates that embed tokens (a decide answer) fill these in directly.
    """

    head: str
    tags: str

    def token(self, event: str) -> str:
        start, end = tag_span(event)
        return f"{self.head}{event}.{self.tags[start:end]}"


def tag_span(event: str) -> tuple[int, int]:
    """Where ``event``'s tag lies in :attr:`Signed.tags`; ValueError for an unknown event."""
    at = _SLOT.get(event)
    if at is None:
        raise ValueError(f"event: unknown event type {event!r}")
    return at, at + _TAG_CHARS


_URLSAFE = bytes.maketrans(b"+/", b"-_")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URLSAFE).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    padded = (text + "=" * (-len(text) % 4)).encode("ascii")
    return binascii.a2b_base64(padded.translate(_FROM_URLSAFE))


def generate_secret() -> str:
    """A fresh random signing secret (256 bits, URL-safe text) for ``signing_keys``."""
    return secrets.token_urlsafe(32)


def keyed_prefix(key: bytes) -> bytes:
    """What the tag hash absorbs before the message: label, key length and key, one block.

    The length prefix keeps keys of different lengths from ever sharing a prefix, and the
    padding to SHAKE256's rate keeps the key in a block of its own (as KMAC does).
    """
    prefix = _MAC_LABEL + len(key).to_bytes(2, "big") + key
    return prefix + b"\x00" * (-len(prefix) % _RATE)


def derive_key(secret: str | bytes) -> bytes:
    """A 256-bit signing key from a secret of any length (a passphrase, an env variable)."""
    raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not raw:
        raise InputError("secret", "must not be empty")
    return hmac.new(raw, _DERIVE_LABEL, hashlib.sha256).digest()


class Signer:
    """Signs and verifies tracking tokens with a set of keys, one of them active."""

    __slots__ = ("_keyed", "_keys", "active", "clock", "ttl_s")

    def __init__(
        self,
        keys: Mapping[str, bytes],
        active: str,
        ttl_s: int = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise InputError("signing_keys", "at least one key is required")
        for kid, key in keys.items():
            if not _KEY_ID.match(kid):
                raise InputError(
                    f"signing_keys.{kid}", "key ids are 1-32 of A-Z a-z 0-9 _ - (they go in URLs)"
                )
            if len(key) < MIN_KEY_BYTES:
                raise InputError(f"signing_keys.{kid}", f"shorter than {MIN_KEY_BYTES} bytes")
        if active not in keys:
            raise InputError("active_key", f"{active!r} is not one of the signing keys")
        if ttl_s <= 0:
            raise InputError("ttl_s", "must be positive")
        self._keys = dict(keys)
        # The key is absorbed once per key; each token copies the keyed state.
        self._keyed = {kid: hashlib.shake_256(keyed_prefix(k)) for kid, k in keys.items()}
        self.active = active
        self.ttl_s = ttl_s
        self.clock = clock

    @classmethod
    def from_secret(
        cls,
        secret: str | bytes,
        *,
        key_id: str | None = None,
        ttl_s: int = 86_400,
        clock: Callable[[], float] = time.time,
    ) -> Signer:
        """A one-key signer; the key id defaults to a fingerprint of the derived key."""
        key = derive_key(secret)
        kid = key_id or _b64(hashlib.sha256(key).digest()[:6])
        return cls({kid: key}, kid, ttl_s=ttl_s, clock=clock)

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def _tags(self, kid: str, head: str) -> str:
        """Every event's tag for the bytes before the event, encoded, in ``_SLOT`` order."""
        h = self._keyed[kid].copy()
        h.update(head.encode("ascii"))
        return _b64(h.digest(_OUTPUT_BYTES))

    def sign(
        self,
        decision_id: str,
        advertiser_id: str,
        campaign_id: str,
        creative_id: str,
        ttl_s: int | None = None,
        *,
        conversion_ttl_s: int | None = None,
    ) -> Signed:
        """Every event's signature of one decision, valid for ``ttl_s``: one hash.

        ``conversion_ttl_s`` gives conversions their own (longer) lifetime: a second
        expiry in the same claims, so it costs no second hash.
        """
        ids = (decision_id, advertiser_id, campaign_id, creative_id)
        joined = _SEP.join(ids)
        if joined.count(_SEP) != 3 or not all(ids):
            name = next(n for n, v in zip(_ID_FIELDS, ids, strict=True) if not v or _SEP in v)
            raise ValueError(f"{name}: must be non-empty and free of {_SEP!r}")
        now = int(self.clock())
        claims = f"{joined}|{now + (self.ttl_s if ttl_s is None else ttl_s)}"
        if conversion_ttl_s:
            claims = f"{claims}|{now + conversion_ttl_s}"
        head = f"{self.active}.{_b64(claims.encode())}{_EV}"
        return Signed(head, self._tags(self.active, head))

    def tokens(
        self,
        decision_id: str,
        advertiser_id: str,
        campaign_id: str,
        creative_id: str,
        events: Iterable[str],
        ttl_s: int | None = None,
        *,
        conversion_ttl_s: int | None = None,
        prefixes: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """One token per event of one decision (see :meth:`sign`).

        ``prefixes`` maps events to text put before their token (tracking URLs pass
        everything up to the token, so each URL is built in one step).
        """
        ids = (decision_id, advertiser_id, campaign_id, creative_id)
        signed = self.sign(*ids, ttl_s, conversion_ttl_s=conversion_ttl_s)
        head, tags = signed
        out: dict[str, str] = {}
        for event in events:
            at = _SLOT.get(event)
            if at is None:
                raise ValueError(f"event: unknown event type {event!r}")
            lead = prefixes[event] if prefixes is not None else ""
            out[event] = f"{lead}{head}{event}.{tags[at : at + _TAG_CHARS]}"
        return out

    def token(
        self,
        decision_id: str,
        advertiser_id: str,
        campaign_id: str,
        creative_id: str,
        event: str,
        ttl_s: int | None = None,
    ) -> str:
        """A token for one event of one decision, valid for ``ttl_s`` (default: the signer's)."""
        ids = (decision_id, advertiser_id, campaign_id, creative_id)
        return self.tokens(*ids, (event,), ttl_s=ttl_s)[event]

    def verify(self, token: str, event: str) -> TrackingClaims:
        """The claims of a token reported for ``event``; raises Forged or Expired."""
        kid, dot, rest = token.partition(".")
        body, dot2, tag = rest.rpartition(".")
        if not (dot and dot2 and kid and body and tag and token.isascii()):
            raise Forged("tracking token is malformed")
        if kid not in self._keys:
            raise Forged("tracking token signed with an unknown key")
        payload, tilde, claimed = body.partition(_EV)
        at = _SLOT.get(claimed)
        if at is None:  # no event, or one with no tag: nothing could have signed it
            raise Forged("tracking token signature does not match")
        expected = self._tags(kid, f"{kid}.{payload}{tilde}")[at : at + _TAG_CHARS]
        if not hmac.compare_digest(expected, tag):
            raise Forged("tracking token signature does not match")
        try:
            parts = _unb64(payload).decode("utf-8").split(_SEP)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise Forged("tracking token payload is malformed") from None
        # Five fields, or six when conversions got their own expiry (the last one).
        if not tilde or len(parts) not in (5, 6) or not all(p.isdigit() for p in parts[4:]):
            raise Forged("tracking token payload is malformed")
        decision, advertiser, campaign, creative = parts[:4]
        expires = parts[5] if claimed == "conversion" and len(parts) == 6 else parts[4]
        claims = TrackingClaims(decision, advertiser, campaign, creative, claimed, int(expires))
        if claims.event != event:
            raise Forged(f"tracking token is for {claims.event!r}, not {event!r}")
        if self.clock() > claims.expires:
            raise Expired("tracking token has expired")
        return claims


def tracking_urls(
    signer: Signer,
    base_url: str,
    decision_id: str,
    advertiser_id: str,
    campaign_id: str,
    creative_id: str,
    events: Iterable[str],
    *,
    ttl_s: int | None = None,
    conversion_ttl_s: int | None = None,
) -> dict[str, str]:
    """``{event: url}`` of signed ``/v1/events/{event}`` URLs for one decision.

    Conversions happen days after the click, hence their own (usually longer) lifetime.
    """
    return signer.tokens(
        decision_id,
        advertiser_id,
        campaign_id,
        creative_id,
        events,
        ttl_s=ttl_s,
        conversion_ttl_s=conversion_ttl_s,
        prefixes=_url_prefixes(base_url),
    )


def url_prefix(base_url: str, event: str) -> str:
    """``event``'s tracking URL up to its token."""
    return _url_prefixes(base_url)[event]


@functools.lru_cache(maxsize=64)
def _url_prefixes(base_url: str) -> dict[str, str]:
    """Each event's tracking URL up to its token (a server has one base URL)."""
    base = base_url.rstrip("/")
    return {e: f"{base}/v1/events/{e}?t=" for e in EVENT_TYPES}
