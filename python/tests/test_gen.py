"""The committed generated code matches what python/gen_proto.sh makes from
the proto in this checkout."""

import os
import shutil
import subprocess
import tempfile
import unittest

from tests.util import PYTHON_DIR


class TestGeneratedCode(unittest.TestCase):
    def test_no_drift(self):
        if shutil.which("protoc") is None:
            self.skipTest("protoc missing (Debian: protobuf-compiler)")
        out = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, out)
        subprocess.run([os.path.join(PYTHON_DIR, "gen_proto.sh"), out], check=True)
        with open(os.path.join(out, "objective_pb2.py"), "rb") as f:
            fresh = f.read()
        with open(os.path.join(PYTHON_DIR, "prefopt", "_proto", "objective_pb2.py"), "rb") as f:
            committed = f.read()
        self.assertTrue(fresh == committed,
                        "python/prefopt/_proto/objective_pb2.py is stale: run python/gen_proto.sh and commit")
