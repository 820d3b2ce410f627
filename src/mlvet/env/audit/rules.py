"""Rules of advisories (MLV21xx) and of indexes, typosquats and pinning (MLV22xx)."""

from __future__ import annotations

from mlvet.findings import Rule, Severity

VULNERABLE_PACKAGE = Rule(
    "MLV2101",
    "Installed or pinned version has a known vulnerability",
    Severity.HIGH,
    "A distribution's version falls inside the affected range of an advisory (CVE, GHSA, PYSEC) in "
    "mlvet's bundled ML database, an updated copy, or an imported pip-audit / OSV-Scanner result. ML "
    "framework advisories are mostly code execution on model load, path traversal and template injection."
    " Upgrade to the fixed version named in the hint; the finding's severity is the advisory's.",
    ("https://ossf.github.io/osv-schema/", "https://osv.dev/"),
)
COMPROMISED_RELEASE = Rule(
    "MLV2102",
    "Known-compromised release or malicious package",
    Severity.CRITICAL,
    "The exact version is a release that attackers published through a hijacked account or CI "
    "(ultralytics 8.3.41, lightning 2.6.2, litellm 1.82.8), or the name belongs to a known-malicious "
    "package (torchtriton on PyPI, ML-name squats). Treat the machine as compromised: remove the package,"
    " rotate every credential it could read, and rebuild the environment from a hashed lock.",
    (
        "https://github.com/ultralytics/ultralytics/issues/18027",
        "https://pytorch.org/blog/compromised-nightly-dependency/",
    ),
)
VULNERABLE_LOADER_WITH_MODELS = Rule(
    "MLV2103",
    "Vulnerable model loader next to model files it loads",
    Severity.CRITICAL,
    "A framework with a code-execution-on-load advisory is installed and model files of the kind it loads"
    " (found by content: PyTorch zip or pickle, .keras, HDF5, GGUF, ONNX) are present in the searched "
    "paths, e.g. torch < 2.6 (CVE-2025-32434) beside .pt checkpoints. Loading any of them runs attacker "
    "code if one is crafted. Upgrade the framework before loading, and scan the files with 'mlvet scan'.",
    ("https://github.com/pytorch/pytorch/security/advisories/GHSA-53q9-r3pm-6pq6",),
)
DEPENDENCY_CONFUSION = Rule(
    "MLV2201",
    "Package name can resolve on more than one index",
    Severity.HIGH,
    "The installer merges several indexes (pip's --extra-index-url, uv's unsafe-best-match) and takes the"
    " highest version from any of them, so whoever publishes the name on the other index wins; this is "
    "how torchtriton reached PyTorch nightly users in December 2022. Pin the package with a hash, serve "
    "it from a single index (uv: an explicit index plus tool.uv.sources), or register the name on PyPI.",
    (
        "https://pytorch.org/blog/compromised-nightly-dependency/",
        "https://docs.astral.sh/uv/concepts/indexes/",
    ),
)
MERGED_INDEXES = Rule(
    "MLV2202",
    "Installer configured to merge several package indexes",
    Severity.MEDIUM,
    "pip.conf, PIP_EXTRA_INDEX_URL, a requirements file or a uv setting adds indexes that every install "
    "searches together with the primary one (or a uv index that is not explicit answers for every "
    "package). Any package the installs pull can come from either index. Prefer one index (a vetted "
    "mirror), or uv with explicit indexes and per-package sources.",
    ("https://pip.pypa.io/en/stable/topics/secure-installs/",),
)
TYPOSQUAT = Rule(
    "MLV2203",
    "Name imitates an ML package",
    Severity.HIGH,
    "The distribution name is a near-miss of a well-known ML package: a homoglyph, moved separators, a "
    "build-like affix (-gpu, -nightly, -cu121), a truncation or one or two typed-wrong letters. "
    "Typosquats of ML packages (torchvisions, ttensorflow-gpu, huggingface-hubs) have carried "
    "infostealers. Check the name letter by letter and install the real package.",
    ("https://github.com/DataDog/malicious-software-packages-dataset",),
)
UNPINNED = Rule(
    "MLV2204",
    "Requirement not pinned to an exact version",
    Severity.MEDIUM,
    "An application requirement allows a range of versions (or a VCS branch), so the next install can "
    "pull a newly published release, including a compromised one published minutes earlier. Pin with == "
    "(or a commit) and lock the set with hashes (pip-compile --generate-hashes, uv lock, mlvet env lock).",
    ("https://pip.pypa.io/en/stable/topics/repeatable-installs/",),
)
UNHASHED = Rule(
    "MLV2205",
    "Requirement without an artifact hash",
    Severity.LOW,
    "The requirement is pinned but no --hash (or lock hash) fixes which file is installed, so a replaced "
    "or re-uploaded artifact, or the same version from another index, installs silently. Add hashes so "
    "pip runs in hash-checking mode.",
    ("https://pip.pypa.io/en/stable/topics/secure-installs/#hash-checking-mode",),
)
INSECURE_INDEX = Rule(
    "MLV2206",
    "Index URL over plain HTTP or with embedded credentials",
    Severity.MEDIUM,
    "A package index reached over http:// lets anyone on the network path swap the packages; credentials "
    "written into an index URL end up in shell history, logs and this very configuration file. Use https "
    "and a keyring or netrc for credentials.",
    ("https://pip.pypa.io/en/stable/topics/authentication/",),
)

RULES: tuple[Rule, ...] = (
    VULNERABLE_PACKAGE,
    COMPROMISED_RELEASE,
    VULNERABLE_LOADER_WITH_MODELS,
    DEPENDENCY_CONFUSION,
    MERGED_INDEXES,
    TYPOSQUAT,
    UNPINNED,
    UNHASHED,
    INSECURE_INDEX,
)
