"""The ``provenance`` check: the file itself declares, signed, that it is AI-generated.

Regulators and platforms ask for machine-readable disclosure that survives the file being
passed on; the label in the pixels and the MP4 tags do not prove who made the file or
that it is unchanged. This check reads the C2PA manifest the Producer embeds (see
:mod:`adloom.producer.provenance`) straight from the file, not from the decoded frames:

* a manifest is present and validates ("Valid", or "Trusted" under the configured trust
  anchors); any edit after signing breaks its hash and shows as a failure code;
* its ``c2pa.created`` action declares an AI digital source type;
* adloom's own assertion, where present, names the plan being verified.

Every failure is critical: without it the creative does not disclose AI generation in
machine-readable form. Options live in the verifier config's ``provenance`` section.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from adloom.errors import InputError
from adloom.producer.provenance import ASSERTION, IPTC, read_manifest
from adloom.verifier.checks import Check, CheckContext, Outcome, Problem, check

#: The verifier config section holding :class:`ProvenanceOptions`.
SECTION = "provenance"
#: Digital source types that declare AI generation (the whole, or composited into it).
AI_SOURCE_TYPES = frozenset(
    {IPTC + "trainedAlgorithmicMedia", IPTC + "compositeWithTrainedAlgorithmicMedia"}
)
#: Reported by every signature from a CA the reader does not trust: "Valid", not an error.
UNTRUSTED = "signingCredential.untrusted"
NO_MANIFEST = (
    "no C2PA manifest: the file does not declare itself AI-generated in machine-readable form"
)


class ProvenanceOptions(BaseModel):
    """Settings of the ``provenance`` check (section ``provenance``)."""

    model_config = ConfigDict(extra="forbid")

    require_trusted: bool = Field(
        False,
        description="Require a signer under a trusted CA ('Trusted'); development-signed "
        "files are only 'Valid'.",
    )
    trust_anchors: Path | None = Field(
        None,
        description="PEM file of CA certificates to trust (the C2PA trust list, or your "
        "own CA); without it no signer is trusted.",
    )


@check("provenance", "compliance")
def provenance(ctx: CheckContext) -> Outcome:
    """A valid C2PA manifest declares the file AI-generated, for this plan."""
    opts = ctx.options(SECTION, ProvenanceOptions)
    path = Path(ctx.creative.path)
    try:
        report = read_manifest(path, opts.trust_anchors)
    except InputError as exc:
        return _fail(Problem("critical", str(exc)))
    if report is None:
        return _fail(Problem("critical", NO_MANIFEST))

    problems: list[Problem] = []
    signer = report.signer or "an unnamed signer"
    if report.state not in ("Valid", "Trusted"):
        codes = [f"{c} ({e})" if e else c for c, e in report.failures if c != UNTRUSTED]
        detail = "; ".join(codes) or "no failure code given"
        problems.append(
            Problem(
                "critical",
                f"C2PA manifest is {report.state}: {detail}",
                text=", ".join(c for c, _ in report.failures if c != UNTRUSTED) or None,
            )
        )
    elif report.state == "Valid":
        trusted = Problem(
            "critical" if opts.require_trusted else "info",
            f"C2PA signature by {signer!r} is Valid but not Trusted ({UNTRUSTED})",
            text=UNTRUSTED,
        )
        problems.append(trusted)

    sources = report.created()
    if not sources:
        problems.append(Problem("critical", "C2PA manifest has no c2pa.created action"))
    elif not AI_SOURCE_TYPES & set(sources):
        named = ", ".join(repr(s.removeprefix(IPTC)) for s in sources)
        problems.append(
            Problem(
                "critical",
                f"C2PA manifest declares digitalSourceType {named}, not trainedAlgorithmicMedia",
                text=sources[0],
            )
        )

    facts = report.assertion(ASSERTION)
    if facts is not None and facts.get("plan_id") != ctx.plan.plan_id:
        problems.append(
            Problem(
                "critical",
                f"C2PA manifest is for plan {facts.get('plan_id')!r}, not {ctx.plan.plan_id!r}",
                text=str(facts.get("plan_id")),
            )
        )

    failing = [p for p in problems if p.severity != "info"]
    if failing:
        return Outcome(0.0, "; ".join(p.message for p in failing), problems)
    ok = f"C2PA manifest {report.state}, signed by {signer!r}, declares AI generation"
    return Outcome(1.0, ok, problems)


def _fail(problem: Problem) -> Outcome:
    return Outcome(0.0, problem.message, [problem])


#: The checks of this module, for the full verifier.
CHECKS: tuple[Check, ...] = (provenance,)
