"""Why a model cannot be probed at all (each is an ``InputError``: exit 2 with a hint)."""

from __future__ import annotations

from mlvet.errors import InputError


class RunnerError(InputError):
    """The model cannot be run by onnxruntime as it is."""

    hint = "mlvet probe runs models with onnxruntime's standard operators only"


class MissingRuntimeError(InputError):
    """onnx or onnxruntime is not installed."""

    hint = "install the extra in the environment that runs mlvet"

    def __init__(self) -> None:
        super().__init__("mlvet probe needs mlvet[onnx]: pip install 'mlvet[onnx]'")
