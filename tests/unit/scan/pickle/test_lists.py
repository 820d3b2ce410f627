"""The denylist, the allowlist (hand-written and generated) and how names are judged."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from mlvet.scan.pickle.allowlist import ALLOWLIST, allowed_globals
from mlvet.scan.pickle.denylist import DENYLIST, denylist_entries
from mlvet.scan.pickle.globals_policy import Verdict, judge
from mlvet.scan.pickle.nested import MODEL_LOADERS, PICKLE_LOADERS


def test_denylist_is_large_categorised_and_well_formed() -> None:
    entries = denylist_entries()
    assert len(entries) >= 150
    assert len(set(entries)) == len(entries)
    assert set(DENYLIST) >= {
        "process", "code-execution", "import-machinery", "package-installers", "debuggers-and-repls",
        "native-code", "network", "filesystem", "loaders", "framework-internals", "stdlib-shell-helpers",
        "process-state",
    }  # fmt: skip
    for entry in entries:
        module, colon, qualname = entry.partition(":")
        assert colon and module and qualname, entry


def test_every_allowlisted_name_is_allowed() -> None:
    entries = allowed_globals()
    assert len(entries) > 800
    for entry in entries:
        module, _, qualname = entry.partition(":")
        assert judge(module, qualname, fix_imports=False).verdict is Verdict.ALLOWED, entry


@pytest.mark.parametrize("loader", sorted(PICKLE_LOADERS | MODEL_LOADERS))
def test_loader_primitives_are_never_allowed(loader: str) -> None:
    parts = loader.split(".")
    split = next((i for i, part in enumerate(parts) if part[0].isupper()), len(parts) - 1)
    module, name = ".".join(parts[:split]), ".".join(parts[split:])
    assert judge(module, name).verdict is Verdict.DANGEROUS, loader


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.random._pickle", "__bit_generator_ctor"),
        ("numpy.random._pcg64", "PCG64"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch", "FloatStorage"),
        ("torch", "bfloat16"),
        ("torch.nn.modules.linear", "Linear"),
        ("torch.optim.adam", "Adam"),
        ("sklearn.linear_model._logistic", "LogisticRegression"),
        ("sklearn.tree._tree", "Tree"),
        ("sklearn._loss._loss", "CyHalfBinomialLoss"),
        ("xgboost.sklearn", "XGBClassifier"),
        ("lightgbm.sklearn", "LGBMClassifier"),
        ("scipy.sparse._csr", "csr_matrix"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("collections", "OrderedDict"),
        ("argparse", "Namespace"),
        ("copy_reg", "_reconstructor"),
    ],
)
def test_legitimate_ml_globals_are_allowed(module: str, name: str) -> None:
    assert judge(module, name).verdict is Verdict.ALLOWED


@pytest.mark.parametrize(
    ("module", "name", "resolved"),
    [
        ("torch.storage", "_load_from_bytes", "torch.storage._load_from_bytes"),
        ("pathlib", "os.system", "os.system"),
        ("pathlib", "Path.write_text", "pathlib.Path.write_text"),
        ("torch", "hub.load", "torch.hub.load"),
        ("asyncio.unix_events", "_UnixSubprocessTransport._start",
         "asyncio.unix_events._UnixSubprocessTransport._start"),
        ("__builtin__", "eval", "builtins.eval"),
        ("cPickle", "loads", "pickle.loads"),
        ("bdb", "Bdb.run", "bdb.Bdb.run"),
        ("torch.utils._config_module", "ConfigModule.load_config",
         "torch.utils._config_module.ConfigModule.load_config"),
        ("numpy.testing._private.utils", "runstring", "numpy.testing._private.utils.runstring"),
    ],
)  # fmt: skip
def test_dangerous_names_resolve(module: str, name: str, resolved: str) -> None:
    judgement = judge(module, name)
    assert judgement.verdict is Verdict.DANGEROUS
    assert judgement.qualified == resolved


def test_py2_aliases_apply_only_below_protocol_3_but_deny_either_way() -> None:
    assert judge("dbm", "open", fix_imports=False).qualified == "dbm.open"
    assert judge("dbm", "open", fix_imports=True).qualified == "dbm.ndbm.open"
    assert judge("copy_reg", "_reconstructor", fix_imports=True).verdict is Verdict.ALLOWED
    assert judge("__builtin__", "set", fix_imports=True).verdict is Verdict.ALLOWED
    assert judge("__builtin__", "set", fix_imports=False).verdict is Verdict.UNKNOWN


def test_traversal_detection() -> None:
    assert judge("pathlib", "os.system").traversal == "module attribute os"
    assert judge("numpy", "ndarray.__class__").traversal == "dunder attribute __class__"
    assert judge("collections", "__builtins__").traversal == "dunder attribute __builtins__"
    assert judge("collections", "OrderedDict.fromkeys").traversal is None
    assert judge("copyreg", "__newobj__").traversal is None


def test_hostile_names_are_bounded() -> None:
    judgement = judge("a" * 100_000, ".".join(["x"] * 10_000))
    assert judgement.verdict is Verdict.UNKNOWN


def test_generated_allowlist_is_shipped_sorted_and_versioned() -> None:
    text = resources.files("mlvet.scan.pickle").joinpath("allowlist_generated.json").read_text()
    document = json.loads(text)
    assert set(document["frameworks"]) >= {"torch", "numpy", "sklearn", "xgboost", "lightgbm", "scipy"}
    for section in document["frameworks"].values():
        assert section["version"]
        assert section["globals"] == sorted(set(section["globals"]))
    assert "torch.storage:_load_from_bytes" not in {e for g in ALLOWLIST.values() for e in g}
