"""Shared test helpers: paths and the prefopt binary."""

import os
import subprocess
import tempfile
import unittest

PYTHON_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(PYTHON_DIR)
DPOP = os.path.join(ROOT, "examples", "plugins", "python", "dpop", "dpop.py")

_bin = None


def prefopt_bin():
    """Returns the prefopt binary: $PREFOPT_BIN, else one built once from
    this checkout (skips the test when Go is missing)."""
    global _bin
    if os.environ.get("PREFOPT_BIN"):
        return os.environ["PREFOPT_BIN"]
    if _bin is None:
        out = os.path.join(tempfile.mkdtemp(prefix="prefopt-test-"), "prefopt")
        try:
            subprocess.run(["go", "build", "-o", out, "./host/cmd/prefopt"], cwd=ROOT, check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            raise unittest.SkipTest("cannot build prefopt: %s" % e)
        _bin = out
    os.environ["PREFOPT_BIN"] = _bin
    return _bin
