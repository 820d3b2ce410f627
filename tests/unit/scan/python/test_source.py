"""Python source analysis: aliases resolved, payloads decoded, behaviours rated; benign code stays quiet."""

from __future__ import annotations

import base64
import textwrap
import time
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.artifacts import Format
from mlvet.config import Settings
from mlvet.findings import Finding, Location, Problem, ProblemKind, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.python.source import MAX_SOURCE_BYTES, scan_python
from tests.corpus.gguf_st_hf import BENIGN_MODELING_PY, CONFIGURATION_PY

LICENSE_HEADER = """# coding=utf-8
# Copyright 2024 The Tiny Team and The HuggingFace Inc. team. All rights reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""

REALISTIC_MODELING = (
    LICENSE_HEADER
    + BENIGN_MODELING_PY
    + textwrap.dedent(
        '''
        import importlib.util
        import warnings

        _flash = importlib.util.find_spec("flash_attn") is not None


        def load_tiny_weights(model, path):
            """Load a checkpoint saved with torch.save (state_dict only)."""
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            with open(os.path.join(os.path.dirname(path), "load.log"), "a") as log:
                log.write("loaded\\n")
            if os.environ.get("TINY_DEBUG"):
                warnings.warn("debug mode", stacklevel=2)
            return model


        def get_activation(name):
            return getattr(nn, name)()


        def benchmark(model, inputs):
            start = time.time()
            model(inputs)
            if time.time() - start > 5:
                logger.warning("slow")
        '''
    )
)


def run(source: str | bytes) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    data = source.encode() if isinstance(source, str) else source
    scan_python(data, ScanContext(Subject(path="modeling.py"), Settings(), collector, dispatch))
    return collector.findings, collector.problems


def summary(source: str) -> list[tuple[str, Severity, int | None]]:
    findings, _ = run(textwrap.dedent(source))
    return [(f.rule.id, f.severity, f.location.line) for f in findings]


def test_realistic_modeling_code_has_nothing_above_low() -> None:
    findings, problems = run(REALISTIC_MODELING)
    assert [(f.rule.id, f.severity, f.message) for f in findings if f.severity > Severity.LOW] == []
    assert {f.rule.id for f in findings} <= {"MLV814"}
    assert problems == []
    assert run(CONFIGURATION_PY) == ([], [])


def test_os_system_in_init_is_critical_with_line_and_evidence() -> None:
    findings, _ = run("import os\n\nclass M:\n    def __init__(self):\n        os.system('true')\n")
    assert [(f.rule.id, f.severity, f.location) for f in findings] == [
        ("MLV811", Severity.CRITICAL, Location(line=5))
    ]
    assert findings[0].evidence == {"code": "os.system('true')", "name": "os.system", "graded_as": "model"}


@pytest.mark.parametrize(
    "source",
    [
        "import os as o\no.popen('true')",
        "from os import system as s\ns('true')",
        "from subprocess import *\ncheck_output(['true'])",
        "import subprocess as sp\nsp.Popen(['true']).wait()",
        "__import__('os').system('true')",
        "import importlib\nimportlib.import_module('subprocess').run(['true'])",
        "m = __import__('subprocess')\nm.call(['true'])",
        "import os\nrun = getattr(os, 'system')\nrun('true')",
        "import sys\nsys.modules['os'].system('true')",
        "__builtins__['__import__']('os').system('true')",
        "import pty\npty.spawn('/bin/true')",
        "import os\nos.execv('/bin/true', ['true'])",
        "import asyncio\nasyncio.create_subprocess_shell('true')",
    ],
)
def test_process_execution_through_any_alias(source: str) -> None:
    findings, _ = run(source)
    assert any(f.rule.id == "MLV811" and f.severity == Severity.CRITICAL for f in findings), findings


def test_pip_install_is_named() -> None:
    findings, _ = run(
        "import subprocess, sys\nsubprocess.check_call([sys.executable, '-m', 'pip', 'install', 'x'])"
    )
    assert "pip install" in findings[0].message


def test_referencing_a_process_function_is_high() -> None:
    assert summary("import os\ncallbacks = [os.system]\n") == [("MLV811", Severity.HIGH, 2)]


ENCODED = base64.b64encode(b"import os\nos.system('true')").decode()
COMPRESSED = base64.b64encode(zlib.compress(b"import os; os.system(1)")).decode()


@pytest.mark.parametrize(
    "source",
    [
        f"import base64\nexec(base64.b64decode('{ENCODED}'))",
        f"import base64 as b\ncode = b.b64decode('{ENCODED}').decode()\nexec(code)",
        f"import base64, zlib\nexec(zlib.decompress(base64.b64decode('{COMPRESSED}')))",
        f"exec(bytes.fromhex('{b'import os; os.system(1)'.hex()}'))",
        "import codecs\nexec(codecs.decode('vzcbeg bf; bf.flfgrz(1)', 'rot13'))",
        "exec(''.join(chr(c) for c in [112, 114, 105, 110, 116]))",
    ],
)
def test_exec_of_decoded_data_is_critical(source: str) -> None:
    findings, _ = run(source)
    assert any(f.rule.id == "MLV812" and f.severity == Severity.CRITICAL for f in findings), findings


def test_decoded_payload_is_analysed_too() -> None:
    findings, _ = run(f"import base64\nexec(base64.b64decode('{ENCODED}'))")
    hidden = [f for f in findings if f.rule.id == "MLV811"]
    assert hidden and "payload line 2" in hidden[0].message and hidden[0].location.line == 2


def test_exec_of_a_constant_is_medium_and_its_content_analysed() -> None:
    findings, _ = run("exec('import os\\nos.system(1)')")
    assert ("MLV812", Severity.MEDIUM) in [(f.rule.id, f.severity) for f in findings]
    assert ("MLV811", Severity.CRITICAL) in [(f.rule.id, f.severity) for f in findings]


@pytest.mark.parametrize(
    ("source", "severity"),
    [
        ("eval(user_input)", Severity.HIGH),
        ("compile(text, 'x', 'exec')", Severity.HIGH),
        ("import importlib\nimportlib.import_module(name)", Severity.HIGH),
        ("__import__(name)", Severity.HIGH),
        ("import os\ngetattr(os, name)('true')", Severity.HIGH),
        ("import marshal\nmarshal.loads(blob)", Severity.HIGH),
        ("import ctypes\nctypes.CDLL('libc.so.6')", Severity.HIGH),
        ("import runpy\nrunpy.run_path(path)", Severity.HIGH),
        ("import importlib.util\nimportlib.util.spec_from_file_location('m', '/tmp/m.py')", Severity.MEDIUM),
    ],
)
def test_dynamic_code(source: str, severity: Severity) -> None:
    findings, _ = run(source)
    assert [(f.rule.id, f.severity) for f in findings][:1] == [("MLV812", severity)], findings


def test_constant_imports_and_getattr_on_ordinary_objects_are_fine() -> None:
    assert run(
        "import importlib\nm = importlib.import_module('json')\ngetattr(config, name)\nm.dumps({})"
    ) == ([], [])


@pytest.mark.parametrize(
    "source",
    [
        "import socket\ns = socket.socket()\ns.connect(('192.0.2.1', 80))",
        "import requests\nrequests.post('https://example.invalid', data=b'x')",
        "import urllib.request\nurllib.request.urlopen('https://example.invalid').read()",
        "from http.client import HTTPSConnection\nHTTPSConnection('example.invalid')",
        "import httpx\nhttpx.Client().get('https://example.invalid')",
        "import ftplib\nftplib.FTP('example.invalid')",
        "import smtplib\nsmtplib.SMTP('example.invalid')",
        "import paramiko\nparamiko.SSHClient()",
    ],
)
def test_network_access_is_high(source: str) -> None:
    findings, _ = run(source)
    assert [(f.rule.id, f.severity) for f in findings][:1] == [("MLV813", Severity.HIGH)], findings


def test_network_exceptions_in_except_clauses_are_not_network_access() -> None:
    source = "import requests\ntry:\n    pass\nexcept requests.exceptions.HTTPError:\n    raise\n"
    assert run(source) == ([], [])


def test_network_data_fed_to_exec_is_critical() -> None:
    findings, _ = run("import requests\nr = requests.get('https://example.invalid')\nexec(r.text)")
    assert ("MLV812", Severity.CRITICAL, 3) in [(f.rule.id, f.severity, f.location.line) for f in findings]


def test_downloaded_code_executed_is_critical_and_download_alone_medium() -> None:
    source = """
        from huggingface_hub import hf_hub_download
        path = hf_hub_download("evil/repo", "payload.py")
        exec(open(path).read())
    """
    assert summary(source) == [("MLV813", Severity.MEDIUM, 3), ("MLV812", Severity.CRITICAL, 4)]


def test_fingerprinting_and_time_bombs() -> None:
    source = """
        import datetime, getpass, os, socket, time, uuid
        from datetime import datetime as dt
        mac = uuid.getnode()
        host = socket.gethostname()
        user = getpass.getuser()
        if dt.now() > dt(2030, 1, 1):
            pass
        if time.time() > 1893456000:
            pass
        now = datetime.datetime.now()
        if now.year >= 2030:
            pass
        token = os.environ["HF_TOKEN"]
        key = os.getenv("AWS_SECRET_ACCESS_KEY")
        everything = dict(os.environ)
    """
    found = summary(source)
    assert [line for rule, severity, line in found if severity == Severity.HIGH] == [
        4,
        5,
        6,
        7,
        9,
        12,
        14,
        15,
    ]
    assert ("MLV814", Severity.MEDIUM, 16) in found


def test_elapsed_time_measurements_are_not_time_bombs() -> None:
    source = "import time\nstart = time.time()\nif time.time() - start > 5:\n    pass\n"
    assert run(source) == ([], [])


def test_plain_environment_flags_are_low() -> None:
    assert summary("import os\nflag = os.environ.get('TOKENIZERS_PARALLELISM')\n") == [
        ("MLV814", Severity.LOW, 2)
    ]


@pytest.mark.parametrize(
    ("source", "severity"),
    [
        ("import shutil\nshutil.rmtree('/home')", Severity.MEDIUM),
        ("import os\nos.remove(path)", Severity.MEDIUM),
        ("open('/tmp/out.bin', 'wb')", Severity.MEDIUM),
        ("import os\nopen(os.path.expanduser('~/.bashrc'), 'a')", Severity.HIGH),
        ("open('/home/u/.ssh/authorized_keys', 'a')", Severity.HIGH),
        (
            "from pathlib import Path\nPath('/usr/lib/python3/site-packages/x.pth').write_text('import os')",
            Severity.HIGH,
        ),
        ("import shutil\nshutil.copy('payload', '/etc/cron.d/x')", Severity.HIGH),
    ],
)
def test_file_system_changes(source: str, severity: Severity) -> None:
    findings, _ = run(source)
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV815", severity)]


def test_relative_writes_and_reads_are_fine() -> None:
    assert run("open('vocab.json', 'w')\nopen('/etc/hostname').read()") == ([], [])


@pytest.mark.parametrize(
    ("source", "severity"),
    [
        ("import pickle\npickle.loads(blob)", Severity.HIGH),
        ("import dill\ndill.load(f)", Severity.HIGH),
        ("import joblib\njoblib.load('m.joblib')", Severity.HIGH),
        ("import torch\ntorch.load('m.pt')", Severity.MEDIUM),
        ("import torch\ntorch.load('m.pt', weights_only=False)", Severity.HIGH),
        ("import numpy as np\nnp.load('a.npy', allow_pickle=True)", Severity.HIGH),
        ("import yaml\nyaml.load(text)", Severity.HIGH),
        ("import yaml\nyaml.load(text, Loader=yaml.FullLoader)", Severity.MEDIUM),
        ("import pandas as pd\npd.read_pickle('x')", Severity.HIGH),
        ("import pickle, requests\npickle.loads(requests.get('u').content)", Severity.CRITICAL),
    ],
)
def test_unsafe_deserialization(source: str, severity: Severity) -> None:
    findings, _ = run(source)
    assert ("MLV816", severity) in [(f.rule.id, f.severity) for f in findings], findings


@pytest.mark.parametrize(
    "source",
    [
        "import torch\ntorch.load('m.pt', weights_only=True)",
        "import numpy as np\nnp.load('a.npy')",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
        "import yaml\nyaml.safe_load(text)",
    ],
)
def test_safe_loading_is_fine(source: str) -> None:
    assert run(source) == ([], [])


def test_remote_code_chains() -> None:
    source = """
        import torch
        from transformers import AutoModel
        vision = AutoModel.from_pretrained("other/vision", trust_remote_code=True)
        helper = torch.hub.load("someone/repo", "model")
    """
    assert summary(source) == [("MLV818", Severity.HIGH, 4), ("MLV818", Severity.HIGH, 5)]


def test_shadowing_builtins_with_own_functions() -> None:
    assert run("def eval(x):\n    return x\n\neval(data)\nmodel.eval()\ntorch.compile(model)") == ([], [])


def test_unparseable_source_is_low_or_medium_never_a_problem() -> None:
    findings, problems = run("def broken(:\n    pass\n")
    assert [(f.rule.id, f.severity, f.location.line) for f in findings] == [("MLV817", Severity.LOW, 1)]
    assert problems == []
    findings, _ = run("import os\nprint 'hello'\nos.system('x')\n")
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV817", Severity.MEDIUM)]
    assert "os.system" in findings[0].message


def test_markdown_with_python_samples_is_documentation() -> None:
    card = "---\nlicense: mit\n---\n# Model\n\n```python\nimport os\nos.system('x')\n```\n"
    assert run(card) == ([], [])
    assert run("from x import y\n\n```python\ny()\n```\n") == ([], [])


def test_unusual_source_encoding_is_reported() -> None:
    findings, _ = run(b"# -*- coding: utf-7 -*-\nx = 1\n")
    assert [(f.rule.id, f.severity) for f in findings] == [("MLV812", Severity.MEDIUM)]


def test_oversized_source_is_a_limit_problem() -> None:
    findings, problems = run(b"x = 1\n" * (MAX_SOURCE_BYTES // 6 + 1))
    assert findings == []
    assert [p.kind for p in problems] == [ProblemKind.LIMIT]


def test_deeply_nested_source_does_not_crash() -> None:
    collector = Collector()
    context = ScanContext(Subject(path="deep.py"), Settings(), collector, dispatch)
    dispatch(("x = " + "[" * 5000 + "]" * 5000).encode(), context, Format.PYTHON)
    dispatch(("x = " + "-" * 200_000 + "1").encode(), context, Format.PYTHON)
    assert all(p.kind != ProblemKind.INTERNAL for p in collector.problems), collector.problems


def test_large_generated_module_is_fast() -> None:
    source = "import os\nVOCAB = {\n" + "".join(f"    'token{i}': {i},\n" for i in range(60_000)) + "}\n"
    started = time.perf_counter()
    assert run(source) == ([], [])
    assert time.perf_counter() - started < 5


_SEED = (
    "import os, base64\nclass M:\n    def __init__(self):\n"
    "        exec(base64.b64decode(x))\n        os.system('true')\n"
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.integers(min_value=0, max_value=len(_SEED)),
    inserted=st.sampled_from(
        ["(", ")", ":", "\n", " ", "os.", "exec(", "'", '"""', "\\", "lambda", "\x00", "é"]
    ),
    where=st.integers(min_value=0, max_value=len(_SEED)),
    noise=st.text(max_size=20),
)
def test_mutated_sources_never_break_the_scanner(cut: int, inserted: str, where: int, noise: str) -> None:
    source = _SEED[:where] + inserted + _SEED[where:cut] + noise
    collector = Collector()
    context = ScanContext(Subject(path="fuzz.py"), Settings(), collector, dispatch)
    dispatch(source.encode("utf-8", "surrogatepass"), context, Format.PYTHON)
    assert all(p.kind != ProblemKind.INTERNAL for p in collector.problems), collector.problems
