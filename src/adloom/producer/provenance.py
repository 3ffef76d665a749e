"""C2PA provenance: every creative says, in signed machine-readable form, that it is AI-made.

The on-screen label and the MP4 tags disclose AI generation to people and to players that
read tags; a C2PA manifest discloses it in a form anyone can check cryptographically.
adloom embeds one manifest per creative: a ``c2pa.created`` action whose digital source
type is IPTC ``trainedAlgorithmicMedia``, with adloom as the software agent, and an
``org.adloom.creative`` assertion naming the campaign, plan, product, plan kind and the
disclosure text. Nothing about the viewer goes in beyond the plan id: the file travels.

The manifest covers the file's bytes (a BMFF hash), so any later edit (a flipped byte, a
re-encode, a re-mux that drops the manifest) is detectable by
:mod:`adloom.verifier.provenance`.

Development signing. Without ``cert`` and ``key``, adloom signs with a development
identity: a local CA and an ES256 leaf certificate named "adloom development signer
(untrusted)", generated once and kept under ``dev_identity_dir`` (by default
``$XDG_CACHE_HOME/adloom/c2pa``, else ``~/.cache/adloom/c2pa``), the key readable by its
owner only. Files signed this way validate as "Valid" (intact and well-signed) but not as
"Trusted", because no one trusts that CA but you (``dev-ca.pem`` there is the anchor to
give a verifier that should).

Production signing needs:

* a signing certificate issued by a CA on the C2PA trust list (the chain in ``cert``);
* the private key in an HSM or KMS, not a file: a function that wraps it in a callback
  signer (``c2pa.Signer.from_callback``), named in ``signer`` as ``package.module:name``;
  ``key`` files are for test set-ups;
* a timestamp authority (``tsa_url``), so signatures stay valid after the certificate
  expires.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from adloom import __version__
from adloom.domain import Creative, CreativePlan
from adloom.errors import AdloomError, InputError, MissingExtraError, RenderError
from adloom.io import atomic_path

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from cryptography.x509 import Certificate

Algorithm = Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"]

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
#: What an adloom creative is: media made by a trained model (IPTC's term).
SOURCE_TYPE = IPTC + "trainedAlgorithmicMedia"
#: The label of adloom's own assertion.
ASSERTION = "org.adloom.creative"
MIME = "video/mp4"
DEV_SIGNER = "adloom development signer (untrusted)"
DEV_CA = "adloom development CA (untrusted)"
#: Files of the development identity inside ``dev_identity_dir``.
DEV_KEY, DEV_CHAIN, DEV_CA_FILE = "dev-key.pem", "dev-chain.pem", "dev-ca.pem"
_DOTTED = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
#: A development leaf this close to expiry is replaced rather than used.
_RENEW_BEFORE = dt.timedelta(days=30)


class ProvenanceConfig(BaseModel):
    """How creatives are signed; the defaults sign with a local development identity."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="Embed a signed C2PA manifest in every creative.")
    cert: Path | None = Field(
        None, description="PEM certificate chain, leaf first (production signing)."
    )
    key: Path | None = Field(None, description="PEM private key of the leaf certificate.")
    dev_identity_dir: Path | None = Field(
        None,
        description="Where the development identity is kept when no cert/key is set "
        "(default: the user cache dir, adloom/c2pa).",
    )
    algorithm: Algorithm = Field(
        "es256", description="Signature algorithm; it must match the key's type."
    )
    tsa_url: str | None = Field(
        None, description="RFC 3161 timestamp authority, so signatures outlive the cert."
    )
    signer: str | None = Field(
        None,
        description="'package.module:function' taking this config and returning a new "
        "c2pa.Signer (an HSM or KMS key behind c2pa.Signer.from_callback); replaces key.",
    )

    @field_validator("tsa_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"invalid timestamp authority {value!r}: expected an http(s) URL")
        return value

    @field_validator("signer")
    @classmethod
    def _dotted(cls, value: str | None) -> str | None:
        if value is not None and not _DOTTED.match(value):
            raise ValueError(f"invalid signer {value!r}: expected 'package.module:function'")
        return value

    @model_validator(mode="after")
    def _credentials(self) -> ProvenanceConfig:
        if self.signer is not None:
            if self.key is not None:
                raise ValueError("key is not used with signer: the signer holds the key")
            return self
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key must be set together")
        if self.cert is None and self.algorithm != "es256":
            raise ValueError(
                f"algorithm {self.algorithm!r} needs cert and key: the development "
                "identity signs with es256"
            )
        return self


@dataclass(frozen=True)
class Identity:
    """A signing certificate chain (leaf first) and its private key, both PEM."""

    chain: bytes
    key: bytes


@dataclass(frozen=True)
class ManifestReport:
    """What a C2PA reader found in a file: its validation state and active manifest."""

    state: str
    #: (code, explanation) of every failed validation of the active manifest.
    failures: tuple[tuple[str, str], ...]
    manifest: dict[str, Any]

    def assertion(self, label: str) -> dict[str, Any] | None:
        """The data of the first assertion whose label is ``label`` (any version suffix)."""
        for item in self.manifest.get("assertions", []):
            name = str(item.get("label", ""))
            if name == label or name.startswith(label + ".v"):
                data = item.get("data")
                return data if isinstance(data, dict) else {}
        return None

    def created(self) -> list[str]:
        """Digital source types of the ``c2pa.created`` actions ("" where none is given)."""
        actions = (self.assertion("c2pa.actions") or {}).get("actions", [])
        return [
            str(a.get("digitalSourceType", ""))
            for a in actions
            if isinstance(a, dict) and a.get("action") == "c2pa.created"
        ]

    @property
    def signer(self) -> str | None:
        """Common name of the signing certificate."""
        info = self.manifest.get("signature_info") or {}
        name = info.get("common_name") or info.get("issuer")
        return str(name) if name else None


def _c2pa() -> Any:
    try:
        import c2pa  # type: ignore[import-untyped]
    except ImportError:
        raise MissingExtraError("provenance", "provenance", "c2pa-python") from None
    return c2pa


# --------------------------------------------------------------------------- manifest


def manifest_for(plan: CreativePlan, renderer: str) -> dict[str, Any]:
    """The manifest of a creative rendered from ``plan`` by ``renderer``."""
    return _manifest(
        campaign_id=plan.campaign_id,
        plan_id=plan.plan_id,
        product_id=plan.product_id,
        kind=plan.kind,
        disclosure=plan.disclosure.text,
        renderer=renderer,
    )


def _manifest(
    *,
    campaign_id: str,
    plan_id: str,
    product_id: str,
    kind: str | None,
    disclosure: str,
    renderer: str,
) -> dict[str, Any]:
    agent = {"name": "adloom", "version": __version__}
    creative = {
        "campaign_id": campaign_id,
        "plan_id": plan_id,
        "product_id": product_id,
        "kind": kind,
        "disclosure": disclosure,
        "renderer": renderer,
    }
    return {
        "claim_generator_info": [agent],
        "title": f"{campaign_id}/{product_id}",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": SOURCE_TYPE,
                            "softwareAgent": agent,
                            "description": f"rendered by adloom's {renderer} renderer",
                            "parameters": {"renderer": renderer},
                        }
                    ]
                },
            },
            {"label": ASSERTION, "data": {k: v for k, v in creative.items() if v is not None}},
        ],
    }


# --------------------------------------------------------------------------- signing


def sign_mp4(
    src: Path,
    dst: Path,
    manifest: dict[str, Any],
    config: ProvenanceConfig | None = None,
    *,
    signer: Any = None,
) -> bytes:
    """Write ``src`` to ``dst`` with ``manifest`` signed and embedded; returns the manifest.

    ``signer`` (a ``c2pa.Signer``, e.g. an HSM-backed callback signer) overrides the
    config's credentials.
    """
    config = config or ProvenanceConfig()
    c2pa = _c2pa()
    own = signer is None
    if own:
        signer = _signer(config, c2pa)
    try:
        with (
            Path(src).open("rb") as source,
            Path(dst).open("w+b") as target,
            c2pa.Builder(manifest) as builder,
        ):
            out: bytes = builder.sign(signer, MIME, source, target)
    except c2pa.C2paError as exc:
        message = _one_line(exc)
        if own and message.startswith("Signature"):  # the certificate or key was refused
            raise InputError(_where(config), f"signing credentials refused: {message}") from None
        raise RenderError(f"C2PA signing of {Path(src).name} failed: {message}") from None
    finally:
        if own:
            signer.close()
    return out


def _signer(config: ProvenanceConfig, c2pa: Any) -> Any:
    """A new ``c2pa.Signer`` from the configured factory, key files or development identity."""
    if config.signer is not None:
        module, _, name = config.signer.partition(":")
        try:
            factory = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise InputError("provenance.signer", f"cannot load {config.signer!r}: {exc}") from None
        return factory(config)
    identity = credentials(config)
    alg = c2pa.C2paSigningAlg[config.algorithm.upper()]
    info = c2pa.C2paSignerInfo(alg, identity.chain, identity.key, config.tsa_url)
    try:
        return c2pa.Signer.from_info(info)
    except c2pa.C2paError as exc:
        raise InputError(
            _where(config), f"unusable signing credentials: {_one_line(exc)}"
        ) from None


def _where(config: ProvenanceConfig) -> Path | str:
    if config.signer is not None:
        return "provenance.signer"
    return config.cert or _dev_dir(config)


def resign(
    src: Path, dst: Path, creative: Creative, config: ProvenanceConfig | None = None
) -> None:
    """Sign ``src`` into ``dst`` with the manifest ``creative``'s own file would carry.

    For files changed after rendering (tests, evaluation suites) that must still look
    like what a Producer publishes; the facts come from the creative's MP4 tags.
    """
    tags = creative.metadata
    manifest = _manifest(
        campaign_id=tags.get("campaign_id", ""),
        plan_id=creative.plan_id,
        product_id=tags.get("product_id", ""),
        kind=tags.get("plan_kind"),
        disclosure=creative.disclosure_text,
        renderer=creative.renderer,
    )
    sign_mp4(src, dst, manifest, config)


def credentials(config: ProvenanceConfig) -> Identity:
    """The configured certificate chain and key, else the development identity.

    A key that is not the leaf's is caught here, where the files can be named, rather
    than as an opaque signature failure.
    """
    if config.cert is None or config.key is None:
        return dev_identity(_dev_dir(config))
    _crypto()
    from cryptography.hazmat.primitives import serialization

    chain = _read(config.cert, "provenance.cert")
    leaf = certificates(chain, config.cert, "provenance.cert")[0]
    key = _read(config.key, "provenance.key")
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError):
        raise InputError(
            config.key, "not an unencrypted PEM private key (provenance.key)"
        ) from None
    if leaf.public_key() != private.public_key():
        raise InputError(
            config.key,
            f"does not belong to the first certificate of {config.cert.name} (provenance.key)",
        )
    return Identity(chain, key)


def certificates(data: bytes, path: Path, field: str) -> list[Certificate]:
    """The PEM certificates in ``data`` (read from ``path``, set as ``field``)."""
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InputError(path, f"not a PEM certificate file ({field})") from None


def _read(path: Path, field: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, f"file not found ({field})") from None
    except OSError as exc:
        raise InputError(path, f"unreadable ({field}): {exc.strerror}") from None


def _crypto() -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise MissingExtraError("provenance", "provenance", "cryptography") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


# --------------------------------------------------------------------------- development identity


def default_identity_dir() -> Path:
    """The user cache dir's ``adloom/c2pa`` (XDG_CACHE_HOME, else ``~/.cache``)."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "adloom" / "c2pa"


def _dev_dir(config: ProvenanceConfig) -> Path:
    return (config.dev_identity_dir or default_identity_dir()).expanduser().resolve()


@lru_cache(maxsize=8)
def dev_identity(folder: Path) -> Identity:
    """The development identity kept in ``folder``, made there on first use.

    Kept once per process: a campaign signs every creative with it. A missing, unreadable,
    mismatched (two processes wrote at once) or nearly expired identity is made anew.
    """
    _crypto()
    identity = _load_identity(folder)
    if identity is None:
        identity = _make_identity(folder)
    return identity


def _load_identity(folder: Path) -> Identity | None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        chain = (folder / DEV_CHAIN).read_bytes()
        key = (folder / DEV_KEY).read_bytes()
        leaf = x509.load_pem_x509_certificates(chain)[0]
        private = serialization.load_pem_private_key(key, password=None)
    except (OSError, ValueError, IndexError):
        return None
    now = dt.datetime.now(dt.UTC)
    if leaf.not_valid_after_utc - now < _RENEW_BEFORE or leaf.public_key() != private.public_key():
        return None
    return Identity(chain, key)


def _make_identity(folder: Path) -> Identity:
    """A fresh CA and leaf, written atomically: key (0600), chain (leaf + CA), CA alone."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate(DEV_CA, ca_key, ca_key, None, days=3650)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate(DEV_SIGNER, key, ca_key, ca, days=730)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name, data, mode in (
            (DEV_KEY, key_pem, 0o600),
            (DEV_CHAIN, chain, 0o644),
            (DEV_CA_FILE, ca.public_bytes(pem), 0o644),
        ):
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(data)
                tmp.chmod(mode)
    except OSError as exc:
        raise AdloomError(
            f"{folder}: cannot write the development signing identity ({exc.strerror}); "
            "set provenance.dev_identity_dir or provenance.cert and provenance.key"
        ) from None
    return Identity(chain, key_pem)


def _certificate(
    name: str,
    key: EllipticCurvePrivateKey,
    issuer_key: EllipticCurvePrivateKey,
    issuer: Certificate | None,
    *,
    days: int,
) -> Certificate:
    """A CA certificate (``issuer`` None, self-signed) or a C2PA signing leaf under it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "adloom development"),
        ]
    )
    is_ca = issuer is None
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if not is_ca:
        # C2PA validators require a document-signing usage on the leaf; emailProtection is
        # one the specification accepts.
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    return builder.sign(issuer_key, hashes.SHA256())


# --------------------------------------------------------------------------- reading


def read_manifest(path: Path, trust_anchors: Path | None = None) -> ManifestReport | None:
    """The active C2PA manifest of the MP4 at ``path`` and its validation; None if absent.

    With ``trust_anchors`` (a PEM file of CA certificates), a manifest signed under one of
    them validates as "Trusted" rather than "Valid".
    """
    c2pa = _c2pa()
    context = None
    if trust_anchors is not None:
        anchors = _read(trust_anchors, "provenance.trust_anchors")
        _crypto()
        certificates(anchors, trust_anchors, "provenance.trust_anchors")
        context = _trust_context(anchors)
    try:
        with Path(path).open("rb") as fh, c2pa.Reader(MIME, fh, None, context) as reader:
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
            manifest = reader.get_active_manifest() or {}
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except OSError as exc:
        raise InputError(path, f"unreadable: {exc.strerror}") from None
    except c2pa.C2paError.ManifestNotFound:
        return None
    except c2pa.C2paError as exc:
        raise InputError(path, f"C2PA data unreadable: {_one_line(exc)}") from None
    failed = (results.get("activeManifest") or {}).get("failure") or []
    failures = tuple((str(f.get("code")), str(f.get("explanation", ""))) for f in failed)
    return ManifestReport(str(state or "unknown"), failures, manifest)


@lru_cache(maxsize=4)
def _trust_context(anchors: bytes) -> Any:
    """A reader context trusting ``anchors``, kept per process (one per anchor set)."""
    c2pa = _c2pa()
    settings = c2pa.Settings.from_dict({"trust": {"trust_anchors": anchors.decode("latin-1")}})
    try:
        return c2pa.Context(settings=settings)
    finally:
        settings.close()
