"""The decision core of the ad server, independent of HTTP.

``AdServer.decide`` turns a request into a served creative in a few hundred microseconds:
eligible creatives from the in-memory catalog (verified, consented, within frequency caps,
not worn out), one arm chosen by the contextual bandit, the decision logged with its
propensity. Anything that goes wrong on the way yields the campaign's generic creative
("fallback"), never an error and never a blank. ``record_event`` checks a signed tracking
token, counts each (decision, event) once and feeds impressions and clicks back to the
policy.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal, NamedTuple

import numpy as np
from pydantic import Field

from adloom import registry
from adloom.domain import EVENT_TYPES, Decision, Event, Model
from adloom.serving import features
from adloom.serving.bandits import Policy
from adloom.serving.catalog import Catalog, Snapshot, of_aspect
from adloom.serving.prerender import Job, Prerenderer
from adloom.serving.settings import ServeSettings
from adloom.serving.tracking import Signed, Signer, derive_key, url_prefix
from adloom.store import CampaignRecord, Counters, CreativeRecord, Store, Unavailable
from adloom.store.buffer import BufferedLog

log = logging.getLogger(__name__)

Channel = Literal["decide", "openrtb", "vast"]
#: Events a served creative gets a tracking URL for (conversion has its own, longer one).
TRACKED = tuple(e for e in EVENT_TYPES if e != "conversion")
#: The events of a first-party answer: conversions too, reported by the advertiser.
TRACKED_WITH_CONVERSION = (*TRACKED, "conversion")
#: Most feedback items folded into the policy on one request's time.
LEARN_SLICE = 256


class RequestContext(Model):
    platform: str = Field("feed", min_length=1, max_length=32)
    aspect_ratio: Literal["16:9", "9:16"] = "16:9"
    device: Literal["mobile", "desktop", "tablet", "ctv", "unknown"] = "unknown"


class DecideRequest(Model):
    user_id: str | None = Field(None, min_length=1, max_length=128)
    campaign_id: str | None = Field(None, min_length=1, max_length=64)
    context: RequestContext = Field(default_factory=RequestContext)
    consent: bool | None = Field(
        None,
        description="The caller's live consent signal. It can only withdraw: personalization "
        "also needs the consent the advertiser recorded for this user.",
    )


class Served(NamedTuple):
    """What a request was given (named tuples: built on every request, at tuple cost)."""

    decision: Decision
    record: CreativeRecord
    campaign: CampaignRecord


class Outcome(NamedTuple):
    served: Served | None
    detail: str


#: What a decision's later events need: (arm, x, user_id, campaign_id, creative_id,
#: window_s). A plain tuple of atomic values on purpose: the collector stops tracking such
#: tuples, so up to ``max_pending`` of them never lengthen its full passes (a dataclass
#: per decision would be traversed on every one).
_Pending = tuple[str, np.ndarray, str | None, str, str, int]


Fits = Callable[[CampaignRecord, CreativeRecord], bool]


class DecisionIds:
    """Unique decision ids without a system call per request.

    A random 48-bit prefix per server (so ids from restarts and replicas do not collide)
    and a 48-bit counter. ``os.urandom`` per decision is a system call that may release
    the GIL, and under load the request thread then waits for the event writer to hand
    it back. The ids need not be secret: every tracking URL that names one is signed.
    """

    def __init__(self) -> None:
        self._prefix = os.urandom(6).hex()
        self._count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self._prefix}{next(self._count) & 0xFFFFFFFFFFFF:012x}"


class AdServer:
    """Catalog, counters, policy, event log and signer, wired for serving."""

    def __init__(
        self,
        store: Store,
        counters: Counters,
        policy: Policy,
        signer: Signer,
        settings: ServeSettings,
        *,
        prerender: Prerenderer | None = None,
        max_pending: int = 1_000_000,
    ) -> None:
        self.store = store
        self.counters = counters
        self.policy = policy
        self.signer = signer
        self.settings = settings
        self.catalog = Catalog(store)
        self.log = BufferedLog(
            store,
            interval_s=settings.buffer.interval_s,
            batch=settings.buffer.batch,
            max_buffered=settings.buffer.max_buffered,
            spool_dir=settings.spool_dir,
        )
        self.prerender = prerender
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._pending_lock = threading.Lock()
        self._max_pending = max_pending
        self._ids = DecisionIds()
        # Feedback waiting to be folded into the policy (see ``learn``).
        self._feedback: deque[tuple[str, np.ndarray, float | None]] = deque()
        self._learned_at = time.monotonic()

    @classmethod
    def from_settings(
        cls, settings: ServeSettings, *, store: Store | None = None, signer: Signer | None = None
    ) -> AdServer:
        # Cheap components first: a bad policy or counters setting must fail before a
        # database file is created or migrated.
        policy = registry.create("policy", settings.policy, "thompson")
        counters = registry.create("counters", settings.counters, "memory")
        store = store or registry.create("store", settings.store, "sqlite")
        if signer is None:
            if settings.signing_keys:
                keys = {k: derive_key(v) for k, v in settings.signing_keys.items()}
                active = settings.active_key or next(iter(keys))
                signer = Signer(keys, active, ttl_s=settings.tracking_ttl_s)
            else:
                signer = Signer.from_secret(os.urandom(32))
        return cls(store, counters, policy, signer, settings)

    # ------------------------------------------------------------------ decisions

    def decide(
        self,
        request: DecideRequest,
        channel: Channel = "decide",
        *,
        personalize: bool = True,
        fits: Fits | None = None,
    ) -> Outcome:
        """The creative this request gets; falls back to generic on any failure."""
        if self._feedback:
            self._learn_if_due()
        snap = self.catalog.snapshot
        campaigns = [
            c
            for c in snap.active
            if request.campaign_id is None or c.campaign.id == request.campaign_id
        ]
        if not campaigns:
            return Outcome(None, "no active campaign with a verified creative")
        try:
            return self._decide(snap, campaigns, request, channel, personalize, fits)
        except Exception as exc:  # the request must still get an ad
            if not isinstance(exc, Unavailable):
                log.exception("decision failed; serving the generic creative")
            return self._fallback(snap, campaigns, request, channel, fits, str(exc))

    def _decide(
        self,
        snap: Snapshot,
        campaigns: list[CampaignRecord],
        request: DecideRequest,
        channel: Channel,
        personalize: bool,
        fits: Fits | None,
    ) -> Outcome:
        user = request.user_id
        ctx = request.context
        aspect = ctx.aspect_ratio
        # Whose personalized creatives may be served: nobody's without live consent.
        personal = user if personalize and request.consent is not False else None
        candidates: list[tuple[CampaignRecord, CreativeRecord]] = []
        for camp in campaigns:
            mine: tuple[CreativeRecord, ...] = ()
            if personal is not None:
                consent = snap.consent.get((camp.advertiser_id, personal))
                if consent is not None and consent.personalization:
                    key = (camp.advertiser_id, camp.campaign.id, personal)
                    mine = snap.personalized.get(key, ())
                    if not any(r.context.aspect_ratio == aspect for r in mine):
                        self._want(camp, personal, aspect)
            if mine or fits is not None:
                generic = snap.generic.get((camp.advertiser_id, camp.campaign.id), ())
                fitting = _fitting(camp, (*generic, *mine), aspect, fits)
                candidates.extend((camp, rec) for rec in fitting)
            else:  # the common case: the campaign's generic creatives, sifted once
                candidates.extend(snap.generic_candidates(camp, aspect))
        if not candidates:
            return Outcome(None, "no creative fits the request")
        if user is not None:
            candidates = self._within_caps(candidates, user)
            if not candidates:
                return Outcome(None, "frequency cap reached")
        arms: dict[str, tuple[CampaignRecord, CreativeRecord]] = {}
        for pair in candidates:
            arms.setdefault(pair[1].arm, pair)
        now = datetime.now(UTC)
        x = features.vector(ctx.platform, ctx.device, features.daypart(now))
        names = list(arms)
        if len(names) == 1:
            propensity = 1.0
            reason: Literal["policy", "exploration", "exploitation"] = "policy"
            camp, rec = arms[names[0]]
        else:
            choice = self.policy.choose(names, x)
            propensity, reason = choice.propensity, choice.reason
            camp, rec = arms[choice.arm]
        return self._serve(snap, camp, rec, request, channel, reason, propensity, names, x, now)

    def _within_caps(
        self, candidates: list[tuple[CampaignRecord, CreativeRecord]], user: str
    ) -> list[tuple[CampaignRecord, CreativeRecord]]:
        """Drops capped campaigns, then worn-out creatives (unless all are worn out).

        One counter read per request: each candidate's fatigue count, then each
        campaign's impressions in its window.
        """
        keys = [_fatigue_key(r.advertiser_id, r.creative_id, user) for _, r in candidates]
        camps = {(c.advertiser_id, c.campaign.id): c for c, _ in candidates}
        keys += [_cap_key(a, cid, user) for a, cid in camps]
        values = self.counters.get(keys)
        if not any(values):  # a user not seen within the windows: nothing to filter
            return candidates
        n = len(candidates)
        capped = {
            k
            for k, seen in zip(camps, values[n:], strict=True)
            if seen >= camps[k].frequency_cap.impressions_per_window
        }
        kept = [
            (c, r, seen)
            for (c, r), seen in zip(candidates, values[:n], strict=True)
            if not capped or (c.advertiser_id, c.campaign.id) not in capped
        ]
        if not kept:
            return []
        rested = [(c, r) for c, r, seen in kept if seen < c.frequency_cap.fatigue_after]
        if rested:
            return rested
        least = min(seen for _, _, seen in kept)  # all worn out: the least-seen beats none
        return [(c, r) for c, r, seen in kept if seen == least]

    def _fallback(
        self,
        snap: Snapshot,
        campaigns: list[CampaignRecord],
        request: DecideRequest,
        channel: Channel,
        fits: Fits | None,
        why: str,
    ) -> Outcome:
        aspect = request.context.aspect_ratio
        for camp in campaigns:
            recs = _fitting(
                camp, snap.generic.get((camp.advertiser_id, camp.campaign.id), ()), aspect, fits
            )
            if recs:
                now = datetime.now(UTC)
                x = features.vector(
                    request.context.platform, request.context.device, features.daypart(now)
                )
                try:
                    return self._serve(
                        snap, camp, recs[0], request, channel, "fallback", 1.0, [], x, now
                    )
                except Exception:
                    log.exception("fallback logging failed")
                    return Outcome(None, f"fallback failed after: {why}")
        return Outcome(None, f"no generic creative fits the request ({why})")

    def _serve(
        self,
        snap: Snapshot,
        camp: CampaignRecord,
        rec: CreativeRecord,
        request: DecideRequest,
        channel: Channel,
        reason: Literal["policy", "exploration", "exploitation", "fallback"],
        propensity: float,
        arms: list[str],
        x: np.ndarray,
        now: datetime,
    ) -> Outcome:
        decision = Decision(
            decision_id=self._ids(),
            timestamp=now,
            channel=channel,
            advertiser_id=camp.advertiser_id,
            campaign_id=camp.campaign.id,
            user_id=request.user_id,
            creative_id=rec.creative_id,
            arm=rec.arm,
            kind=rec.kind,
            reason=reason,
            policy=self.policy.name if reason != "fallback" else "fallback",
            propensity=propensity,
            candidates=arms,
            context={
                "platform": request.context.platform,
                "device": request.context.device,
                "aspect_ratio": request.context.aspect_ratio,
            },
        )
        self.log.add((decision,))
        pending: _Pending = (
            rec.arm,
            x,
            request.user_id,
            camp.campaign.id,
            rec.creative_id,
            camp.frequency_cap.window_s,
        )
        with self._pending_lock:
            self._pending[decision.decision_id] = pending
            if len(self._pending) > self._max_pending:
                self._pending.popitem(last=False)
        if reason == "fallback":
            detail = "generic fallback"
        elif len(arms) == 1:
            detail = "the only eligible arm"
        else:
            detail = f"{reason} among {len(arms)} eligible arms"
        return Outcome(Served(decision, rec, camp), detail)

    def _want(self, camp: CampaignRecord, user: str, aspect: str) -> None:
        if self.prerender is not None:
            self.prerender.request(Job(camp.advertiser_id, camp.campaign.id, user, aspect))

    # ------------------------------------------------------------------ tracking

    def sign(self, decision: Decision, *, conversion: bool = True) -> Signed:
        """The signatures of every tracking URL of a decision (one hash).

        VAST has no place for the conversion URL (the click redirect hands one to the
        landing page), so its callers leave conversions out.
        """
        return self.signer.sign(
            decision.decision_id,
            decision.advertiser_id,
            decision.campaign_id,
            decision.creative_id,
            conversion_ttl_s=self.settings.conversion_ttl_s if conversion else None,
        )

    def urls(self, decision: Decision, *, conversion: bool = True) -> dict[str, str]:
        """Signed tracking URLs of a decision, one per event, plus the click-through."""
        signed = self.sign(decision, conversion=conversion)
        base = self.settings.base_url
        events = TRACKED_WITH_CONVERSION if conversion else TRACKED
        urls = {e: f"{url_prefix(base, e)}{signed.token(e)}" for e in events}
        urls["clickthrough"] = f"{base.rstrip('/')}/v1/click?t={signed.token('click')}"
        return urls

    def record_event(self, event: str, token: str, value: float | None = None) -> bool:
        """Count one tracked event; False for a duplicate. Raises on a forged or old token."""
        claims = self.signer.verify(token, event)
        if self.log.seen(claims.decision_id, event):
            return False
        with self._pending_lock:
            pending = self._pending.get(claims.decision_id)
        self.log.add(
            events=[
                Event(
                    type=claims.event,
                    creative_id=claims.creative_id,
                    decision_id=claims.decision_id,
                    advertiser_id=claims.advertiser_id,
                    campaign_id=claims.campaign_id,
                    user_id=pending[2] if pending else None,
                    timestamp=datetime.now(UTC),
                    value=value,
                )
            ]
        )
        if pending is not None:
            self._learn(event, claims.advertiser_id, pending)
        return True

    def _learn(self, event: str, advertiser_id: str, pending: _Pending) -> None:
        arm, x, user_id, campaign_id, creative_id, window_s = pending
        if event == "impression":
            self._teach(arm, x, None)
            if user_id is not None:
                keys = [
                    _cap_key(advertiser_id, campaign_id, user_id),
                    _fatigue_key(advertiser_id, creative_id, user_id),
                ]
                try:
                    self.counters.incr(keys, window_s)
                except Unavailable as exc:
                    log.warning("frequency counters not updated: %s", exc)
        elif event == self.settings.reward_event:
            self._teach(arm, x, 1.0)

    def _teach(self, arm: str, x: np.ndarray, reward: float | None) -> None:
        """Queue one impression (``reward`` None) or reward for the policy."""
        self._feedback.append((arm, x, reward))
        self._learn_if_due()

    def _learn_if_due(self) -> None:
        every = self.settings.learn_every_s
        if every <= 0.0:
            self.learn()
        elif time.monotonic() - self._learned_at >= every:
            # A bounded slice per call: a second's backlog is spread over a few requests
            # rather than stalling one of them.
            self.learn(limit=LEARN_SLICE)
            if not self._feedback:
                self._learned_at = time.monotonic()

    def learn(self, limit: int | None = None) -> int:
        """Fold queued feedback into the policy now; returns how many items were applied.

        Feedback is folded every ``settings.learn_every_s`` rather than per event, so
        between folds the policy's choice probabilities for each context are computed
        once and reused by every request (the propensities stay exact: they are those of
        the rule in force when the request was decided).
        """
        done = 0
        while limit is None or done < limit:
            try:
                arm, x, reward = self._feedback.popleft()
            except IndexError:
                break
            done += 1
            try:
                if reward is None:
                    self.policy.observe(arm, x)
                else:
                    self.policy.reward(arm, x, reward)
            except Exception:  # feedback must never fail a request
                log.exception("policy update failed for arm %s", arm)
        return done

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.catalog.refresh()
        if self.prerender is not None:
            self.prerender.start()

    def close(self) -> None:
        if self.prerender is not None:
            self.prerender.stop()
        self.learn()
        self.log.close()
        self.counters.close()
        self.store.close()


def _fitting(
    camp: CampaignRecord, recs: Sequence[CreativeRecord], aspect: str, fits: Fits | None
) -> Sequence[CreativeRecord]:
    """Creatives of the requested aspect ratio (any, if none has it) that pass ``fits``."""
    return of_aspect(recs if fits is None else [r for r in recs if fits(camp, r)], aspect)


def _cap_key(advertiser_id: str, campaign_id: str, user_id: str) -> str:
    return f"fc:{advertiser_id}:{campaign_id}:{user_id}"


def _fatigue_key(advertiser_id: str, creative_id: str, user_id: str) -> str:
    return f"fat:{advertiser_id}:{creative_id}:{user_id}"
