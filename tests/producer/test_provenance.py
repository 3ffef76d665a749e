"""C2PA signing of real creatives: the manifest, the identities that sign it, its settings.

Creatives are rendered once per module from the bundled sample campaign; every identity
lives in a temporary folder, so nothing is read from or written to the user's cache.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import stat
import sys
from functools import partial
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import ValidationError

from adloom.demo import load_sample
from adloom.director.template import TemplatePlanner, TemplatePlannerConfig
from adloom.domain import Campaign, Context, Creative, CreativePlan, User
from adloom.errors import InputError, MissingExtraError
from adloom.io import format_validation_error, sha256_file
from adloom.producer import ffmpeg
from adloom.producer.provenance import (
    ASSERTION,
    DEV_CA_FILE,
    DEV_CHAIN,
    DEV_KEY,
    DEV_SIGNER,
    SOURCE_TYPE,
    ProvenanceConfig,
    credentials,
    dev_identity,
    manifest_for,
    read_manifest,
    resign,
    sign_mp4,
)
from adloom.producer.template import TemplateRenderer, TemplateRendererConfig


def render(plan: CreativePlan, campaign: Campaign, out: Path, config: ProvenanceConfig) -> Creative:
    """Render ``plan`` with ``config`` as the renderer's provenance settings.

    ``produce`` is pinned to the same settings, so the result does not depend on how a
    renderer hands its config section on.
    """
    renderer = TemplateRenderer(TemplateRendererConfig(provenance=config))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ffmpeg, "produce", partial(ffmpeg.produce, provenance=config))
        return renderer.render(plan, campaign, out)


def make_pki(folder: Path, name: str = "adloom test signer") -> tuple[Path, Path, Path]:
    """An ES256 leaf under a fresh CA, made here: (chain, key, CA) PEM files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "adloom test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain, key_file, ca_file = folder / "chain.pem", folder / "key.pem", folder / "ca.pem"
    chain.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ca_file.write_bytes(ca.public_bytes(pem))
    return chain, key_file, ca_file


class Rendered:
    """One module's renders: a personalized plan signed twice, and once unsigned."""

    def __init__(self, folder: Path) -> None:
        self.campaign, users = load_sample()
        planner = TemplatePlanner(TemplatePlannerConfig(embedder="hashing"))
        self.user: User = users[0]
        product = self.campaign.products[0]
        context = Context(aspect_ratio="16:9", duration_s=5.0)
        self.plan = planner.plan(self.campaign, product, context, self.user)
        self.profile = planner.profile(self.user, self.campaign)
        self.config = ProvenanceConfig(dev_identity_dir=folder / "c2pa")
        self.signed = render(self.plan, self.campaign, folder / "a.mp4", self.config)
        self.again = render(self.plan, self.campaign, folder / "b.mp4", self.config)
        self.unsigned = render(
            self.plan, self.campaign, folder / "plain.mp4", ProvenanceConfig(enabled=False)
        )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    return Rendered(tmp_path_factory.mktemp("provenance"))


def test_signed_creative_reads_back_valid_and_ai_generated(rendered: Rendered) -> None:
    creative, plan = rendered.signed, rendered.plan
    assert plan.kind == "personalized"
    assert creative.provenance == "c2pa"
    assert creative.sha256 == sha256_file(creative.path)
    report = read_manifest(Path(creative.path))
    assert report is not None
    assert report.state == "Valid"
    assert [code for code, _ in report.failures] == ["signingCredential.untrusted"]
    assert report.created() == [SOURCE_TYPE]
    assert report.signer == DEV_SIGNER
    action = report.assertion("c2pa.actions")["actions"][0]  # type: ignore[index]
    assert action["softwareAgent"]["name"] == "adloom"
    assert action["parameters"] == {"renderer": "template"}
    assert report.assertion(ASSERTION) == {
        "campaign_id": plan.campaign_id,
        "plan_id": plan.plan_id,
        "product_id": plan.product_id,
        "kind": "personalized",
        "disclosure": "AI-generated",
        "renderer": "template",
    }


def test_signed_creative_is_still_the_same_video(rendered: Rendered) -> None:
    """Signing adds a box; the stream, tags and thumbnail frame are those of the encode."""
    import av

    with av.open(rendered.signed.path) as signed, av.open(rendered.unsigned.path) as plain:
        assert signed.metadata == plain.metadata
        a = [bytes(p) for p in signed.demux(signed.streams.video[0]) if p.size]
        b = [bytes(p) for p in plain.demux(plain.streams.video[0]) if p.size]
    assert a == b
    assert len(a) == rendered.plan.context.duration_s * rendered.plan.context.fps


def test_manifest_carries_no_user_data_beyond_the_plan_id(rendered: Rendered) -> None:
    report = read_manifest(Path(rendered.signed.path))
    assert report is not None
    text = json.dumps(report.manifest).lower()
    private = [rendered.profile.summary, *(i.label for i in rendered.profile.interests)]
    private += [h.title for h in rendered.user.history]
    private += [t for h in rendered.user.history for t in h.tags]
    private = [p.lower() for p in private if p]
    assert len(private) > 5, "the sample user should have a history to leak"
    assert [p for p in private if re.search(rf"\b{re.escape(p)}\b", text)] == []
    # The user id appears only inside the plan id.
    assert text.count(rendered.user.id) == text.count(rendered.plan.plan_id.lower())


def test_creative_id_follows_the_video_not_the_signature(rendered: Rendered) -> None:
    a, b, plain = rendered.signed, rendered.again, rendered.unsigned
    assert a.creative_id == b.creative_id == plain.creative_id
    assert a.creative_id == f"{rendered.plan.plan_id}-{plain.sha256[:12]}"
    # The signature (and the manifest's instance id) differ on every signing.
    assert a.sha256 != b.sha256
    assert Path(a.path).read_bytes() != Path(b.path).read_bytes()
    assert sorted(p.name for p in Path(a.path).parent.iterdir()) == [
        "a.mp4",
        "b.mp4",
        "c2pa",
        "plain.mp4",
    ]


def test_disabled_provenance_publishes_the_plain_encode(rendered: Rendered) -> None:
    plain = rendered.unsigned
    assert plain.provenance is None
    assert plain.sha256 == sha256_file(plain.path)
    assert read_manifest(Path(plain.path)) is None
    assert plain.metadata["plan_kind"] == "personalized"


def test_development_identity_is_made_once_and_kept_private(rendered: Rendered) -> None:
    folder = rendered.config.dev_identity_dir
    assert folder is not None
    assert stat.S_IMODE((folder / DEV_KEY).stat().st_mode) == 0o600
    certs = x509.load_pem_x509_certificates((folder / DEV_CHAIN).read_bytes())
    names = [c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for c in certs]
    assert names == [DEV_SIGNER, "adloom development CA (untrusted)"]
    assert certs[0].issuer == certs[1].subject
    assert (folder / DEV_CA_FILE).read_bytes() == certs[1].public_bytes(serialization.Encoding.PEM)
    # Read back from disk (not the per-process cache), it is the same identity.
    key = (folder / DEV_KEY).read_bytes()
    dev_identity.cache_clear()
    assert credentials(rendered.config).key == key
    # Under its own CA as trust anchor the development signature is trusted.
    trusted = read_manifest(Path(rendered.signed.path), folder / DEV_CA_FILE)
    assert trusted is not None
    assert (trusted.state, trusted.failures) == ("Trusted", ())


@pytest.mark.parametrize("damage", ["missing_key", "garbage_chain", "other_key"])
def test_broken_development_identity_is_made_anew(tmp_path: Path, damage: str) -> None:
    folder = tmp_path / "c2pa"
    first = dev_identity(folder)
    if damage == "missing_key":
        (folder / DEV_KEY).unlink()
    elif damage == "garbage_chain":
        (folder / DEV_CHAIN).write_text("not a certificate")
    else:
        dev_identity(tmp_path / "other")
        (folder / DEV_KEY).write_bytes((tmp_path / "other" / DEV_KEY).read_bytes())
    dev_identity.cache_clear()
    second = dev_identity(folder)
    assert second.key != first.key
    assert (folder / DEV_KEY).read_bytes() == second.key
    assert (folder / DEV_CHAIN).read_bytes() == second.chain


def test_configured_certificate_signs_and_its_ca_makes_it_trusted(
    rendered: Rendered, tmp_path: Path
) -> None:
    chain, key, ca = make_pki(tmp_path / "pki")
    config = ProvenanceConfig(cert=chain, key=key)
    out = tmp_path / "signed.mp4"
    sign_mp4(Path(rendered.unsigned.path), out, manifest_for(rendered.plan, "template"), config)
    report = read_manifest(out)
    assert report is not None
    assert (report.state, report.signer) == ("Valid", "adloom test signer")
    trusted = read_manifest(out, ca)
    assert trusted is not None
    assert trusted.state == "Trusted"
    # Another CA does not vouch for it.
    other = read_manifest(out, make_pki(tmp_path / "other")[2])
    assert other is not None
    assert other.state == "Valid"


def kms_signer(config: ProvenanceConfig) -> c2pa.Signer:
    """A callback signer, the way an HSM or KMS key is wrapped (here the key is a file)."""
    assert config.cert is not None
    key = serialization.load_pem_private_key((config.cert.parent / "key.pem").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def sign(data: bytes) -> bytes:
        return key.sign(data, ec.ECDSA(hashes.SHA256()))

    alg = c2pa.C2paSigningAlg.ES256
    return c2pa.Signer.from_callback(sign, alg, config.cert.read_text(), config.tsa_url)


def test_signer_factory_signs_with_a_key_adloom_never_reads(
    rendered: Rendered, tmp_path: Path
) -> None:
    chain, _, ca = make_pki(tmp_path / "hsm", "adloom callback signer")
    config = ProvenanceConfig(cert=chain, signer=f"{__name__}:kms_signer")
    out = tmp_path / "signed.mp4"
    sign_mp4(Path(rendered.unsigned.path), out, manifest_for(rendered.plan, "template"), config)
    report = read_manifest(out, ca)
    assert report is not None
    assert (report.state, report.signer) == ("Trusted", "adloom callback signer")
    assert report.created() == [SOURCE_TYPE]

    missing = ProvenanceConfig(signer="adloom_nowhere.kms:make_signer")
    with pytest.raises(InputError, match=r"^provenance\.signer: cannot load 'adloom_nowhere"):
        sign_mp4(Path(rendered.unsigned.path), out, {}, missing)


def test_resign_rebuilds_the_manifest_from_the_creative(rendered: Rendered, tmp_path: Path) -> None:
    out = tmp_path / "resigned.mp4"
    resign(Path(rendered.unsigned.path), out, rendered.unsigned, rendered.config)
    report = read_manifest(out)
    assert report is not None
    assert report.state == "Valid"
    assert (
        report.assertion(ASSERTION)
        == manifest_for(rendered.plan, "template")["assertions"][1]["data"]
    )


def test_missing_c2pa_is_a_missing_extra_only_when_signing(
    rendered: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)
    with pytest.raises(MissingExtraError, match=r"c2pa-python.*adloom\[provenance\]"):
        render(rendered.plan, rendered.campaign, tmp_path / "ad.mp4", rendered.config)
    assert list(tmp_path.iterdir()) == []  # nothing half-written is left behind
    with pytest.raises(MissingExtraError, match="provenance"):
        read_manifest(Path(rendered.signed.path))
    # Unsigned output needs no extra.
    off = ProvenanceConfig(enabled=False)
    creative = render(rendered.plan, rendered.campaign, tmp_path / "ad.mp4", off)
    assert creative.sha256 == rendered.unsigned.sha256


def test_missing_cryptography_is_a_missing_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    with pytest.raises(MissingExtraError, match=r"'cryptography'.*adloom\[provenance\]"):
        dev_identity(tmp_path / "never-made")
    assert not (tmp_path / "never-made").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"enabled": True, "hsm": "kms-1"}, "hsm: unknown field"),
        ({"cert": "chain.pem"}, "cert and key must be set together"),
        ({"key": "key.pem"}, "cert and key must be set together"),
        ({"algorithm": "ps256"}, "algorithm 'ps256' needs cert and key"),
        ({"algorithm": "rsa"}, "algorithm: Input should be 'es256'"),
        ({"tsa_url": "timestamp.example"}, "tsa_url: invalid timestamp authority"),
        ({"signer": "kms.sign"}, "signer: invalid signer 'kms.sign'"),
        ({"signer": "kms:sign", "key": "key.pem"}, "key is not used with signer"),
        ({"enabled": "sometimes"}, "enabled: Input should be a valid boolean"),
    ],
)
def test_config_validation(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        ProvenanceConfig.model_validate(data)
    assert message in str(format_validation_error("settings.json", info.value))


def test_encode_config_nests_the_provenance_section() -> None:
    cfg = TemplateRendererConfig.model_validate({"provenance": {"enabled": False}})
    assert cfg.provenance == ProvenanceConfig(enabled=False)
    with pytest.raises(ValidationError, match=r"provenance\.colour"):
        TemplateRendererConfig.model_validate({"provenance": {"colour": "red"}})


@pytest.mark.parametrize(
    ("cert", "key", "message"),
    [
        (None, "key", "chain.pem: file not found (provenance.cert)"),
        ("chain", None, "key.pem: file not found (provenance.key)"),
        ("hello", "key", "chain.pem: not a PEM certificate file (provenance.cert)"),
        ("chain", "hello", "key.pem: not an unencrypted PEM private key (provenance.key)"),
        ("chain", "ca", "key.pem: not an unencrypted PEM private key (provenance.key)"),
        ("chain", "other", "key.pem: does not belong to the first certificate of chain.pem"),
        ("ca", "key", "key.pem: does not belong to the first certificate of chain.pem"),
        ("self", "self_key", "chain.pem: signing credentials refused: Signature: the "),
    ],
)
def test_bad_credentials_name_the_file(
    rendered: Rendered, tmp_path: Path, cert: str | None, key: str | None, message: str
) -> None:
    chain, key_file, ca = make_pki(tmp_path / "pki")
    _, other_key, _ = make_pki(tmp_path / "other")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "self-signed")])
    now = dt.datetime.now(dt.UTC)
    self_signed = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(3)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(ca_key, hashes.SHA256())
    )
    content = {
        "chain": chain.read_bytes(),
        "key": key_file.read_bytes(),
        "ca": ca.read_bytes(),
        "other": other_key.read_bytes(),
        "hello": b"hello",
        "self": self_signed.public_bytes(serialization.Encoding.PEM),
        "self_key": ca_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    }
    if cert is not None:
        (tmp_path / "chain.pem").write_bytes(content[cert])
    if key is not None:
        (tmp_path / "key.pem").write_bytes(content[key])
    config = ProvenanceConfig(cert=tmp_path / "chain.pem", key=tmp_path / "key.pem")
    with pytest.raises(InputError) as info:
        sign_mp4(
            Path(rendered.unsigned.path),
            tmp_path / "out.mp4",
            manifest_for(rendered.plan, "template"),
            config,
        )
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_reading_a_file_that_is_no_mp4_names_it(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(InputError, match=r"junk\.mp4: C2PA data unreadable"):
        read_manifest(junk)
    with pytest.raises(InputError, match=r"gone\.mp4: file not found"):
        read_manifest(tmp_path / "gone.mp4")
