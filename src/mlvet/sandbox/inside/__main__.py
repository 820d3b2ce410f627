"""Bootstrap of the sandboxed runner: make ``mlvet.sandbox.inside`` importable, then run it.

Started as ``python -I -S -B <this file> CONFIG_JSON``: no site processing, no user paths, no
bytecode writes. ``mlvet`` and ``mlvet.sandbox`` become empty namespace stubs so that importing this
package does not import the rest of mlvet (the scanner, the renderers) into the sandbox.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path


def _bootstrap() -> int:
    config = json.loads(sys.argv[1])
    sys.path.extend(config.get("sys_path", []))
    sandbox = Path(__file__).resolve().parent.parent
    for name, path in (("mlvet", sandbox.parent), ("mlvet.sandbox", sandbox)):
        stub = types.ModuleType(name)
        stub.__path__ = [str(path)]
        sys.modules[name] = stub
    from mlvet.sandbox.inside import runner

    return runner.main(config)


if __name__ == "__main__":
    sys.exit(_bootstrap())
