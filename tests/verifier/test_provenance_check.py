"""The ``provenance`` check on real signed creatives, and on copies damaged after signing.

Creatives are rendered once per module from the bundled sample campaign, signed with a
development identity kept in a temporary folder.
"""

from __future__ import annotations

import copy
import struct
import subprocess
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field, ValidationError

from adloom.demo import load_sample
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import Context, Creative, Verdict
from adloom.io import format_validation_error, sha256_file
from adloom.producer import ffmpeg
from adloom.producer.provenance import (
    DEV_CA_FILE,
    IPTC,
    ManifestReport,
    ProvenanceConfig,
    manifest_for,
    read_manifest,
    sign_mp4,
)
from adloom.producer.template import TemplateRenderer, TemplateRendererConfig
from adloom.verifier import provenance as module
from adloom.verifier.basic import BasicVerifier, BasicVerifierConfig
from adloom.verifier.checks import DEFAULT_CHECKS, CheckContext, Finding, Thresholds
from adloom.verifier.provenance import CHECKS, NO_MANIFEST, SECTION, ProvenanceOptions, provenance


class VerifierConfig(BasicVerifierConfig):
    """A verifier config with the provenance section, as the full verifier nests it."""

    provenance: ProvenanceOptions = Field(default_factory=ProvenanceOptions)


class Media:
    """A generic creative signed by the Producer, one unsigned, and their damaged copies."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.campaign, _ = load_sample()
        planner = TemplatePlanner(TemplatePlannerConfig(embedder="hashing"))
        context = Context(aspect_ratio="16:9", duration_s=5.0)
        self.plan = planner.plan(self.campaign, self.campaign.products[0], context)
        self.other = planner.plan(self.campaign, self.campaign.products[1], context)
        self.config = ProvenanceConfig(dev_identity_dir=folder / "c2pa")
        self.signed = self.render(self.config, "signed.mp4")
        self.unsigned = self.render(ProvenanceConfig(enabled=False), "unsigned.mp4")

    def render(self, config: ProvenanceConfig, name: str) -> Creative:
        renderer = TemplateRenderer(TemplateRendererConfig(provenance=config))
        with pytest.MonkeyPatch.context() as mp:
            # Pinned here too, whichever way the renderer hands its section on.
            mp.setattr(ffmpeg, "produce", partial(ffmpeg.produce, provenance=config))
            return renderer.render(self.plan, self.campaign, self.folder / name)

    def variant(self, name: str, path: Path) -> Creative:
        """The signed creative's record pointed at ``path`` (hash updated to match)."""
        return self.signed.model_copy(update={"path": str(path), "sha256": sha256_file(path)})

    def signed_with(self, name: str, manifest: dict[str, Any]) -> Creative:
        """The unsigned encode signed with ``manifest`` by the same identity."""
        out = self.folder / name
        sign_mp4(Path(self.unsigned.path), out, manifest, self.config)
        return self.variant(name, out)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    return Media(tmp_path_factory.mktemp("provenance-check"))


def run(media: Media, creative: Creative, options: ProvenanceOptions | None = None) -> Finding:
    ctx = CheckContext(
        creative=creative,
        plan=media.plan,
        campaign=media.campaign,
        profile=None,
        limits=Thresholds(),
        config=VerifierConfig(provenance=options or ProvenanceOptions()),
    )
    return provenance(ctx)


def verify(media: Media, creative: Creative) -> Verdict:
    verifier = BasicVerifier(checks=DEFAULT_CHECKS + CHECKS)
    return verifier.verify(creative, media.plan, media.campaign)


def failed(verdict: Verdict) -> set[str]:
    return {c.name for c in verdict.checks if not c.passed}


def boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """Top-level MP4 boxes: type -> (offset of the payload, payload size)."""
    out, pos = {}, 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[pos + 8 : pos + 16])[0], 16
        elif size == 0:
            size = len(data) - pos
        out.setdefault(kind.decode("latin-1"), (pos + head, size - head))
        pos += size
    return out


def test_module_exports() -> None:
    assert (provenance,) == CHECKS
    assert (provenance.name, provenance.track, provenance.needs_video) == (
        "provenance",
        "compliance",
        False,
    )
    assert SECTION == "provenance"
    assert VerifierConfig().provenance == ProvenanceOptions()


def test_signed_creative_is_accepted(media: Media) -> None:
    verdict = verify(media, media.signed)
    assert verdict.decision == "accept", verdict.rationale
    result = verdict.check("provenance")
    assert result.passed
    assert result.score == 1.0
    assert "Valid" in result.message
    assert "'adloom development signer (untrusted)'" in result.message
    # Being only Valid (not Trusted) is evidence, not a failure.
    [evidence] = [e for e in verdict.evidence if e.check == "provenance"]
    assert evidence.text == "signingCredential.untrusted"
    assert "Valid but not Trusted" in evidence.message


def test_byte_flipped_in_the_video_data_rejects(media: Media) -> None:
    data = bytearray(Path(media.signed.path).read_bytes())
    start, size = boxes(bytes(data))["mdat"]
    data[start + size // 2] ^= 0xFF
    path = media.folder / "flipped.mp4"
    path.write_bytes(data)
    verdict = verify(media, media.variant("flipped.mp4", path))
    assert verdict.decision == "reject"
    assert failed(verdict) == {"provenance"}
    result = verdict.check("provenance")
    assert result.severity == "critical"
    assert result.message.startswith("C2PA manifest is Invalid: assertion.bmffHash.mismatch")
    [evidence] = [e for e in verdict.evidence if e.check == "provenance"]
    assert evidence.text == "assertion.bmffHash.mismatch"


def test_remuxed_without_the_manifest_rejects(media: Media) -> None:
    path = media.folder / "remuxed.mp4"
    cmd = [ffmpeg.ffmpeg_exe(), "-v", "error", "-y", "-i", media.signed.path]
    subprocess.run([*cmd, "-map", "0", "-c", "copy", "-map_metadata", "0", str(path)], check=True)
    assert "uuid" in boxes(Path(media.signed.path).read_bytes())
    assert "uuid" not in boxes(path.read_bytes())
    verdict = verify(media, media.variant("remuxed.mp4", path))
    assert verdict.decision == "reject"
    assert failed(verdict) == {"provenance"}
    assert verdict.check("provenance").message == NO_MANIFEST


def test_disabled_provenance_fails_critical(media: Media) -> None:
    assert media.unsigned.provenance is None
    finding = run(media, media.unsigned)
    assert not finding.result.passed
    assert (finding.result.severity, finding.result.score) == ("critical", 0.0)
    assert finding.result.message == NO_MANIFEST


def _with_action(manifest: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(manifest)
    out["assertions"][0]["data"]["actions"][0].update(changes)
    return out


@pytest.mark.parametrize(
    ("case", "message"),
    [
        (
            "digital_capture",
            "C2PA manifest declares digitalSourceType 'digitalCapture', not "
            "trainedAlgorithmicMedia",
        ),
        (
            "other_plan",
            "C2PA manifest is for plan 'spring-launch.aura-anc.generic.16x9.5s.s0', "
            "not 'spring-launch.trailblaze-boots.generic.16x9.5s.s0'",
        ),
    ],
)
def test_manifest_that_does_not_describe_this_creative_rejects(
    media: Media, case: str, message: str
) -> None:
    base = manifest_for(media.plan, "template")
    manifest = {
        "digital_capture": _with_action(base, digitalSourceType=IPTC + "digitalCapture"),
        "other_plan": manifest_for(media.other, "template"),
    }[case]
    finding = run(media, media.signed_with(f"{case}.mp4", manifest))
    assert not finding.result.passed
    assert finding.result.severity == "critical"
    assert message in finding.result.message
    assert [e.message for e in finding.evidence if e.message.startswith(message[:20])]


def test_manifest_without_a_created_action_rejects(
    media: Media, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Other tools' manifests may open an ingredient instead (this SDK will not sign that)."""
    real = read_manifest(Path(media.signed.path))
    assert real is not None
    opened = copy.deepcopy(real.manifest)
    for item in opened["assertions"]:
        if item["label"].startswith("c2pa.actions"):
            item["data"]["actions"] = [{"action": "c2pa.opened"}]
    report = ManifestReport(real.state, real.failures, opened)
    monkeypatch.setattr(module, "read_manifest", lambda path, anchors: report)
    finding = run(media, media.signed)
    assert finding.result.severity == "critical"
    assert finding.result.message == "C2PA manifest has no c2pa.created action"


def test_composite_ai_media_and_no_adloom_assertion_pass(media: Media) -> None:
    base = manifest_for(media.plan, "template")
    manifest = _with_action(base, digitalSourceType=IPTC + "compositeWithTrainedAlgorithmicMedia")
    manifest["assertions"] = manifest["assertions"][:1]
    finding = run(media, media.signed_with("composite.mp4", manifest))
    assert finding.result.passed, finding.result.message


def test_trust_anchors_and_require_trusted(media: Media) -> None:
    anchors = media.folder / "c2pa" / DEV_CA_FILE
    strict = ProvenanceOptions(require_trusted=True)
    finding = run(media, media.signed, strict)
    assert (finding.result.passed, finding.result.severity) == (False, "critical")
    assert "Valid but not Trusted (signingCredential.untrusted)" in finding.result.message

    options = ProvenanceOptions(require_trusted=True, trust_anchors=anchors)
    trusted = run(media, media.signed, options)
    assert trusted.result.passed
    assert trusted.evidence == []
    assert trusted.result.message.startswith("C2PA manifest Trusted")


@pytest.mark.parametrize(
    ("anchors", "message"),
    [
        ("missing.pem", "missing.pem: file not found (provenance.trust_anchors)"),
        ("junk.pem", "junk.pem: not a PEM certificate file (provenance.trust_anchors)"),
    ],
)
def test_bad_trust_anchors_name_the_file(media: Media, anchors: str, message: str) -> None:
    (media.folder / "junk.pem").write_text("not a certificate")
    finding = run(media, media.signed, ProvenanceOptions(trust_anchors=media.folder / anchors))
    assert finding.result.severity == "critical"
    assert finding.result.message.endswith(message)


def test_unreadable_file_fails_critical(media: Media, tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x08free" + bytes(range(256)))
    finding = run(media, media.signed.model_copy(update={"path": str(junk)}))
    assert finding.result.severity == "critical"
    assert finding.result.message.startswith(f"{junk}: C2PA data unreadable: ")
    gone = run(media, media.signed.model_copy(update={"path": str(tmp_path / "gone.mp4")}))
    assert gone.result.message.endswith("gone.mp4: file not found")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"require_trusted": "maybe"}, "require_trusted: Input should be a valid boolean"),
        ({"trusted": True}, "trusted: unknown field"),
        ({"trust_anchors": 5}, "trust_anchors: Input is not a valid path"),
    ],
)
def test_options_validation(data: dict[str, Any], message: str) -> None:
    """As the section of a verifier config, the field path names the section."""
    with pytest.raises(ValidationError) as info:
        VerifierConfig.model_validate({"provenance": data})
    error = str(format_validation_error("verifier.json", info.value))
    assert error.startswith(f"verifier.json: provenance.{message}")
