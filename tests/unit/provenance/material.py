"""Real test material for signing: keys, a private CA with an intermediate, and small real models."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from safetensors.numpy import save_file

CURVES = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


def new_private_key(kind: str) -> ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "secp256k1":
        return ec.generate_private_key(ec.SECP256K1())
    return ec.generate_private_key(CURVES[kind])


def write_key_pair(
    directory: Path, kind: str = "p256", *, password: bytes | None = None, name: str | None = None
) -> KeyPair:
    """A private key (PKCS#8 PEM, encrypted when ``password``) and its public key (SPKI PEM)."""
    key = new_private_key(kind)
    name = name or kind
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    private = directory / f"{name}.key.pem"
    public = directory / f"{name}.pub.pem"
    private.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return KeyPair(private, public)


@dataclass(frozen=True)
class Pki:
    root: Path
    """Root CA certificate (the trust anchor)."""
    intermediate: Path
    leaf: Path
    leaf_key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: str,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    code_signing: bool = True,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        usage = x509.KeyUsage(code_signing, False, False, False, False, False, False, False, False)
        builder = builder.add_extension(usage, critical=True)
        if code_signing:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False
            )
    return builder.sign(issuer_key, hashes.SHA256())


def write_pki(
    directory: Path,
    *,
    leaf_days: tuple[int, int] = (-1, 365),
    code_signing: bool = True,
    prefix: str = "",
) -> Pki:
    """Root CA -> intermediate CA -> signing leaf; ``leaf_days`` = validity relative to now, in days."""
    now = datetime.datetime.now(datetime.UTC)
    root_key = ec.generate_private_key(ec.SECP256R1())
    mid_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    span = (now - datetime.timedelta(days=3650), now + datetime.timedelta(days=3650))
    root = _certificate(
        f"{prefix}root", root_key, f"{prefix}root", root_key, ca=True, not_before=span[0], not_after=span[1]
    )
    mid = _certificate(
        f"{prefix}intermediate",
        mid_key,
        f"{prefix}root",
        root_key,
        ca=True,
        not_before=span[0],
        not_after=span[1],
    )
    leaf = _certificate(
        f"{prefix}model-signer",
        leaf_key,
        f"{prefix}intermediate",
        mid_key,
        ca=False,
        not_before=now + datetime.timedelta(days=leaf_days[0]),
        not_after=now + datetime.timedelta(days=leaf_days[1]),
        code_signing=code_signing,
    )
    pem = serialization.Encoding.PEM
    paths = Pki(
        directory / f"{prefix}root.pem",
        directory / f"{prefix}intermediate.pem",
        directory / f"{prefix}leaf.pem",
        directory / f"{prefix}leaf.key.pem",
    )
    paths.root.write_bytes(root.public_bytes(pem))
    paths.intermediate.write_bytes(mid.public_bytes(pem))
    paths.leaf.write_bytes(leaf.public_bytes(pem))
    paths.leaf_key.write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def write_model(directory: Path, *, seed: int = 0) -> Path:
    """A small Hugging Face-like model written by safetensors and json: weights, config, tokenizer."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    save_file(
        {
            "embed.weight": rng.standard_normal((64, 16)).astype(np.float32),
            "head.weight": rng.standard_normal((16, 4)).astype(np.float32),
        },
        str(directory / "model.safetensors"),
    )
    (directory / "config.json").write_text(json.dumps({"hidden_size": 16, "seed": seed}))
    (directory / "tokenizer").mkdir(exist_ok=True)
    (directory / "tokenizer" / "vocab.json").write_text(json.dumps({f"tok{i}": i for i in range(32)}))
    return directory
