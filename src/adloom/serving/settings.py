"""Settings of the ad server: which backends, which secrets, which limits.

One validated model selects the whole serving stack (store, counters, policy), so a
deployment is a settings file and ``adloom serve --config`` reads it. Unknown keys are
errors, like every other adloom input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from adloom.domain import Model


class BufferSettings(Model):
    interval_s: float = Field(0.2, gt=0.0, description="How often events are written.")
    batch: int = Field(500, ge=1)
    max_buffered: int = Field(1_000_000, ge=1, description="Held in memory before spooling.")


class ServeSettings(Model):
    store: str | dict[str, Any] = Field(
        default_factory=lambda: {"type": "sqlite", "path": "adloom-serve.db"},
        description="Store backend: 'sqlite' (default) or 'postgresql' with its config.",
    )
    counters: str | dict[str, Any] = Field(
        "memory", description="Online counters: 'memory' (default) or 'redis'."
    )
    policy: str | dict[str, Any] = Field(
        default_factory=lambda: {"type": "thompson", "exploration": 0.05},
        description="Serving policy: 'thompson', 'linucb', 'epsilon' or 'uniform'.",
    )
    learn_every_s: float = Field(
        1.0,
        ge=0.0,
        le=3600.0,
        description="How often impressions and clicks are folded into the policy. Between "
        "folds each context's choice probabilities are computed once and reused; 0 learns "
        "from every event at once (and recomputes them on the next request).",
    )
    switch_interval_ms: float = Field(
        1.0,
        gt=0.0,
        le=100.0,
        description="The interpreter's thread switch interval while serving. Background "
        "threads (the event writer, catalog refreshes) take the GIL from requests for at "
        "most this long at a time; Python's default of 5 ms shows up directly in p99.",
    )
    base_url: str = Field(
        "http://127.0.0.1:8000", description="Public URL of this server, used in VAST and URLs."
    )
    signing_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Tracking URL keys by id (secrets). Empty: one key is generated at start, "
        "so URLs stop verifying after a restart; set it in production.",
    )
    active_key: str | None = Field(None, description="Which signing key signs new URLs.")
    admin_key: str | None = Field(
        None, description="Key that may create advertisers (POST /v1/advertisers)."
    )
    tracking_ttl_s: int = Field(86_400, ge=60, description="How long a tracking URL is valid.")
    conversion_ttl_s: int = Field(30 * 86_400, ge=60)
    reward_event: str = Field("click", description="The event the bandit learns from.")
    catalog_refresh_s: float = Field(5.0, gt=0.0, description="Re-read the catalog this often.")
    rtb_margin_ms: float = Field(
        2.0, ge=0.0, description="No bid unless this much of tmax is left for the network."
    )
    buffer: BufferSettings = Field(default_factory=BufferSettings)
    spool_dir: Path | None = Field(
        None, description="Where events wait on disk while the store is down too long."
    )
    prerender: bool = Field(
        True, description="Render missing personalized creatives ahead of demand."
    )
