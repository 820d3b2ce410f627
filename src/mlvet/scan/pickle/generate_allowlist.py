# mypy: disable-error-code="import-untyped, import-not-found"
"""Regenerate ``allowlist_generated.json`` from the frameworks installed in this environment.

Run ``python -m mlvet.scan.pickle.generate_allowlist`` after upgrading torch, scikit-learn, xgboost,
lightgbm, scipy or numpy, and commit the JSON. A framework that is not importable keeps its
previous section. This script imports the frameworks; mlvet itself only reads the JSON.

Two sources feed each section: the classes a framework defines in the modules whose objects end up
in model files (torch.nn modules, optimizers, estimators...), and the globals that pickles of
benign reference objects actually reference (listed by mlvet's own walker; nothing is unpickled).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pickle
import pkgutil
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from mlvet.config import Settings
from mlvet.findings import Subject
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.pickle.globals_policy import Verdict, judge
from mlvet.scan.pickle.interpreter import Interpreter, Session
from mlvet.scan.pickle.values import Global, OpRef
from mlvet.scan.pickle.walker import walk

OUTPUT = Path(__file__).with_name("allowlist_generated.json")
_SKIPPED_MODULE_PARTS = ("tests", "_testing", "testing", "datasets", "externals", "conftest", "_build_utils")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    previous = json.loads(args.output.read_text()) if args.output.exists() else {"frameworks": {}}
    sections = dict(previous.get("frameworks", {}))
    for name, generate in GENERATORS.items():
        try:
            module = importlib.import_module(name)
        except ImportError:
            sys.stderr.write(f"{name}: not installed, keeping the previous section\n")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            entries = {entry for entry in generate() if _acceptable(entry)}
        sections[name] = {"version": str(getattr(module, "__version__", "?")), "globals": sorted(entries)}
        sys.stderr.write(f"{name}: {len(entries)} globals\n")
    document = {
        "generated_by": "python -m mlvet.scan.pickle.generate_allowlist",
        "frameworks": dict(sorted(sections.items())),
    }
    args.output.write_text(json.dumps(document, indent=1) + "\n")
    return 0


def _acceptable(entry: str) -> bool:
    """Never let generation allow what the denylist forbids."""
    module, _, name = entry.partition(":")
    return judge(module, name).verdict is not Verdict.DANGEROUS


# -- discovery helpers -------------------------------------------------------------------------------


def _modules(package: str) -> Iterator[ModuleType]:
    root = importlib.import_module(package)
    yield root
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), prefix=f"{package}."):
        if any(part in _SKIPPED_MODULE_PARTS for part in info.name.split(".")):
            continue
        try:
            yield importlib.import_module(info.name)
        except Exception:
            continue


def _classes(packages: Iterable[str], keep: Callable[[type], bool] = lambda cls: True) -> set[str]:
    """``module:qualname`` of every class defined (not merely imported) in the packages' modules."""
    found = set()
    for package in packages:
        for module in _modules(package):
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if cls.__module__ == module.__name__ and keep(cls) and "<locals>" not in cls.__qualname__:
                    found.add(f"{cls.__module__}:{cls.__qualname__}")
    return found


def _cython_unpicklers(packages: Iterable[str]) -> set[str]:
    """Cython's generated ``__pyx_unpickle_<Type>`` helpers: they restore state of their own types."""
    found: set[str] = set()
    for package in packages:
        for module in _modules(package):
            found.update(
                f"{module.__name__}:{name}" for name in vars(module) if name.startswith("__pyx_unpickle_")
            )
    return found


def globals_in_pickles(objects: Iterable[Any]) -> set[str]:
    """Every global that pickles of ``objects`` reference, as listed by mlvet's walker (no unpickling)."""
    found: set[str] = set()
    for obj in objects:
        for protocol in (2, 4, 5):
            try:
                data = pickle.dumps(obj, protocol=protocol)
            except Exception:
                continue
            found.update(_walk_globals(data))
    return found


class _Recorder(Interpreter):
    seen: set[str]

    def make_global(self, module: str, name: str, origin: OpRef, how: tuple[str, ...] = ()) -> Global:
        judgement = judge(module, name)
        self.seen.add(f"{judgement.module}:{judgement.name}")
        return super().make_global(module, name, origin, how)


def _walk_globals(data: bytes) -> set[str]:
    ctx = ScanContext(Subject("<generator>"), Settings(), Collector(), lambda *_: None)
    recorder = _Recorder(data, ctx, Session(), 0, len(data), stream=0)
    recorder.seen = set()
    walk(recorder, 0)
    return recorder.seen


# -- per framework -------------------------------------------------------------------------------


def _torch() -> set[str]:
    import torch

    entries = {
        f"torch:{name}"
        for name in dir(torch)
        if name.endswith("Storage") and inspect.isclass(getattr(torch, name))
    }
    entries |= {f"torch.cuda:{name}" for name in dir(torch.cuda) if name.endswith("Storage")}
    entries |= {f"torch:{name}" for name in dir(torch) if isinstance(getattr(torch, name, None), torch.dtype)}
    entries |= _classes(["torch.nn.modules", "torch.optim"])
    entries |= _classes(
        ["torch.nn.utils.weight_norm", "torch.nn.utils.spectral_norm", "torch.nn.parallel.data_parallel"]
    )
    entries |= _classes(["torch.distributed.checkpoint.metadata"])
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    entries |= globals_in_pickles(
        [
            model.state_dict(),
            torch.zeros(2, dtype=torch.bfloat16),
            torch.nn.Parameter(torch.ones(2)),
            torch.Size([2]),
        ]
    )
    return entries


def _numpy() -> set[str]:
    import numpy as np

    scalar_types = {cls for cls in np.sctypeDict.values() if isinstance(cls, type)}
    entries = {f"numpy:{cls.__name__}" for cls in scalar_types if getattr(np, cls.__name__, None) is cls}
    entries |= {f"numpy:{name}" for name in dir(np) if isinstance(getattr(np, name), np.ufunc)}
    entries |= _classes(["numpy.dtypes"])
    entries |= _classes(["numpy.random"], keep=lambda cls: issubclass(cls, np.random.BitGenerator))
    for module in ("numpy.core.numeric", "numpy._core.numeric"):
        entries.add(f"{module}:_frombuffer")
    masked = np.ma.masked_array([1, 2], [False, True])
    samples: list[Any] = [np.arange(3), np.float32(1.5), np.array(["a"]), masked]
    samples += [
        np.random.default_rng(0),
        np.random.RandomState(0),
        np.dtype([("a", "<i4")]),
        np.matrix([[1]]),
    ]
    samples += [np.random.Generator(cls(0)) for cls in (np.random.MT19937, np.random.Philox, np.random.SFC64)]
    return entries | globals_in_pickles(samples)


def _sklearn() -> set[str]:
    import numpy as np
    from sklearn.base import BaseEstimator
    from sklearn.utils import all_estimators

    entries = {f"{cls.__module__}:{cls.__qualname__}" for _, cls in all_estimators()}
    internal = [
        "sklearn.tree", "sklearn._loss", "sklearn.ensemble", "sklearn.neighbors", "sklearn.utils._bunch",
        "sklearn.linear_model", "sklearn.svm", "sklearn.preprocessing", "sklearn.compose", "sklearn.pipeline",
        "sklearn.impute", "sklearn.feature_extraction", "sklearn.cluster", "sklearn.decomposition",
        "sklearn.metrics._scorer", "sklearn.model_selection._search", "sklearn.calibration",
    ]  # fmt: skip
    entries |= _classes(internal, keep=lambda cls: not issubclass(cls, Exception))
    entries |= _cython_unpicklers(["sklearn"])
    rng = np.random.default_rng(0)
    features, labels = rng.random((40, 4)), np.arange(40) % 2
    fitted = []
    for _, cls in all_estimators(type_filter=["classifier", "regressor", "transformer", "cluster"]):
        try:
            estimator: BaseEstimator = cls()
            fitted.append(estimator.fit(features, labels))
        except Exception:
            continue
    return entries | globals_in_pickles(fitted)


def _xgboost() -> set[str]:
    import numpy as np
    import xgboost

    entries = _classes(["xgboost.sklearn"], keep=lambda cls: issubclass(cls, xgboost.XGBModel))
    entries |= {"xgboost.core:Booster"}
    features, labels = np.random.default_rng(0).random((40, 3)), np.arange(40) % 2
    return entries | globals_in_pickles([xgboost.XGBClassifier(n_estimators=2).fit(features, labels)])


def _lightgbm() -> set[str]:
    import lightgbm
    import numpy as np

    entries = _classes(["lightgbm.sklearn"], keep=lambda cls: issubclass(cls, lightgbm.LGBMModel))
    entries |= {"lightgbm.basic:Booster"}
    features, labels = np.random.default_rng(0).random((60, 3)), np.arange(60) % 2
    model = lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(features, labels)
    return entries | globals_in_pickles([model])


def _scipy() -> set[str]:
    import numpy as np
    import scipy.sparse as sparse

    entries = _classes(["scipy.sparse"], keep=lambda cls: issubclass(cls, sparse.sparray | sparse.spmatrix))
    matrices = [sparse.csr_matrix(np.eye(2)), sparse.csc_array(np.eye(2)), sparse.coo_matrix(np.eye(2))]
    return entries | globals_in_pickles(matrices)


GENERATORS: dict[str, Callable[[], set[str]]] = {
    "numpy": _numpy,
    "torch": _torch,
    "sklearn": _sklearn,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "scipy": _scipy,
}


if __name__ == "__main__":
    raise SystemExit(main())
