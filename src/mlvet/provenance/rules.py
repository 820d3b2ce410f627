"""Rules of signing and verification (MLV10xx)."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

_OMS = "https://github.com/ossf/model-signing-spec/blob/main/spec/v1.0.md"

SIGNATURE_INVALID = Rule(
    "MLV1001",
    "Signature invalid",
    Severity.CRITICAL,
    "The DSSE signature over the model's manifest does not verify with the given key, certificate or "
    "Sigstore identity. Either the signature file was altered or it was made by someone else. Do not "
    "use the model; obtain it and its signature again from the publisher.",
    (_OMS, "https://github.com/secure-systems-lab/dsse/blob/master/protocol.md"),
)
FILE_CHANGED = Rule(
    "MLV1002",
    "Model file changed since signing",
    Severity.CRITICAL,
    "A file of the model no longer has the digest the signer vouched for. Its content was modified "
    "after signing: corruption at best, a swapped or backdoored weight or code file at worst. "
    "Replace the model with the signed version.",
    (_OMS,),
)
FILE_MISSING = Rule(
    "MLV1003",
    "Signed file missing",
    Severity.HIGH,
    "A file listed in the signature is absent from the model. A partial model may load with default "
    "values or fall back to another file. Restore the model from its source.",
    (_OMS,),
)
UNEXPECTED_FILE = Rule(
    "MLV1004",
    "Unsigned file in the model",
    Severity.HIGH,
    "The model contains a file the signature does not cover. Loaders pick files up by name, so an "
    "added pickle, config or tokenizer file changes behaviour without touching any signed file. "
    "Remove it, or re-sign the model if the file belongs there.",
    (_OMS, "https://github.com/sigstore/model-transparency/issues/374"),
)
OTHER_MODEL = Rule(
    "MLV1005",
    "Signature belongs to another model",
    Severity.CRITICAL,
    "No file of the model matches any resource in the signature: the signature is valid for some "
    "other model. An attacker may ship a genuine signature next to a different model. Verify the "
    "model against its own signature.",
    (_OMS,),
)
MANIFEST_INCONSISTENT = Rule(
    "MLV1006",
    "Manifest inconsistent with its root digest",
    Severity.CRITICAL,
    "The root digest in the statement's subject is not the digest of the listed resources (in their "
    "listed order). The statement was assembled wrongly or resources were edited or reordered. "
    "Treat the signature as invalid and re-sign the model.",
    (_OMS,),
)
SIGNER_NOT_TRUSTED = Rule(
    "MLV1007",
    "Signer not trusted",
    Severity.CRITICAL,
    "The signature is mathematically valid, but the signer is not one the verifier trusts: the "
    "certificate chain does not lead to a given trust anchor, the certificate is expired or not for "
    "signing, or the Sigstore identity or issuer differs. Check who signed the model.",
    (_OMS, "https://docs.sigstore.dev/about/security/"),
)
SYMLINK_POLICY = Rule(
    "MLV1008",
    "Symlink against the signed policy",
    Severity.HIGH,
    "The model contains a symbolic link while the signature was made with symlinks disallowed, or a "
    "link points outside the model directory. A link swapped in after signing lets a file be served "
    "from anywhere on the machine. Replace the link with the signed file.",
    (_OMS, "https://github.com/sigstore/model-transparency/issues/666"),
)
ED25519_EXTENSION = Rule(
    "MLV1009",
    "Ed25519 signature (mlvet extension)",
    Severity.INFO,
    "The signature uses Ed25519, which mlvet supports as an extension to the OpenSSF Model Signing "
    "algorithm registry (ECDSA P-256/384/521 only). Other OMS verifiers, model-signing included, "
    "will reject it. Sign with an EC key for interoperable signatures.",
    (_OMS,),
)
UNHASHABLE_ENTRY = Rule(
    "MLV1010",
    "Entry that cannot be verified",
    Severity.HIGH,
    "The model directory holds a device, pipe, socket, dangling link, link cycle or non-UTF-8 name. "
    "It cannot be hashed, so nothing vouches for it, and reading it may block or leak. Remove it.",
    (_OMS,),
)

RULES: tuple[Rule, ...] = (
    SIGNATURE_INVALID,
    FILE_CHANGED,
    FILE_MISSING,
    UNEXPECTED_FILE,
    OTHER_MODEL,
    MANIFEST_INCONSISTENT,
    SIGNER_NOT_TRUSTED,
    SYMLINK_POLICY,
    ED25519_EXTENSION,
    UNHASHABLE_ENTRY,
)
