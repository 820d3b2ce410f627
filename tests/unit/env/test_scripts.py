"""Generated console scripts: the installer's wrapper passes, anything else is named."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mlvet.env.scripts import entry_point_of, script_deviation
from mlvet.findings import Severity
from tests.unit.env.environments import Venv
from tests.unit.env.test_verify import only, rewrite_record, verify

PIP_WRAPPER = b"""#!/venv/bin/python
# -*- coding: utf-8 -*-
import re
import sys
from torch.distributed.run import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""
UV_WRAPPER = b"""#!/venv/bin/python3
# -*- coding: utf-8 -*-
import sys
from torch.distributed.run import main
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit(main())
"""
LONG_SHEBANG = b"""#!/bin/sh
'''exec' "/very/long/path/bin/python" "$0" "$@"
' '''
import sys
from torch.distributed.run import main
if __name__ == '__main__':
    sys.exit(main())
"""


@pytest.mark.parametrize("script", [PIP_WRAPPER, UV_WRAPPER, LONG_SHEBANG])
def test_installer_wrappers_pass(script: bytes) -> None:
    assert script_deviation(script, "torch.distributed.run:main") is None


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (PIP_WRAPPER.replace(b"import re\n", b"import re, subprocess\n"), "imports subprocess"),
        (PIP_WRAPPER.replace(b"from torch.distributed.run", b"from torch._evil"), "the entry point is"),
        (
            PIP_WRAPPER.replace(
                b"    sys.exit(main())", b"    __import__('os').system('true')\n    sys.exit(main())"
            ),
            "calls __import__",
        ),
        (PIP_WRAPPER + b"x = open('/etc/passwd').read()\n", "unexpected statement"),
        (PIP_WRAPPER.replace(b"sys.exit(main())", b"sys.exit(0)"), "never calls the entry point"),
        (b"#!/bin/python\nimport sys\nfrom torch.distributed.run import main\nif (:\n", "not valid Python"),
    ],
)
def test_anything_else_is_named(script: bytes, reason: str) -> None:
    found = script_deviation(script, "torch.distributed.run:main")
    assert found is not None and reason in found


def test_versioned_twins_map_to_their_entry_point() -> None:
    points = {"pip": "pip._internal.cli.main:main", "easy_install": "setuptools.command.easy_install:main"}
    assert entry_point_of("pip3.11", points) == points["pip"]
    assert entry_point_of("easy_install-3.11", points) == points["easy_install"]
    assert entry_point_of("pip-script.py", points) == points["pip"]
    assert entry_point_of("other", points) is None


def test_script_rewritten_with_its_record_row_is_still_caught(venv_copy: Callable[[], Venv]) -> None:
    venv = venv_copy()
    script = venv.bin / "pyflakes"
    text = script.read_text()
    script.write_text(text.replace("import sys\n", "import sys\nimport os; os.environ.get('X')\n", 1))
    rewrite_record(venv, "pyflakes", "../../../bin/pyflakes")
    finding = only(verify(venv), "MLV2008")
    assert finding.severity is Severity.CRITICAL
    assert "is not a plain call of pyflakes.api:main" in finding.message
