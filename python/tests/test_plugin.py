"""The plugin SDK, in process (Servicer) and across a real process boundary
(a Python host, and prefopt's Go host)."""

import json
import os
import subprocess
import tempfile
import unittest

import numpy as np

from prefopt import _wire, host
from prefopt.errors import Code, InputError, InternalError, ParamError, PluginError, ReplyError
from tests.util import DPOP, ROOT, prefopt_bin

FAULTY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "faulty.py")
BATCH = {"policy_logps": [-1.0, -2.0, -4.0], "labels": [True, False, True]}


class TestThroughProcess(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p = host.launch(FAULTY, timeout=5, max_attempts=2)

    @classmethod
    def tearDownClass(cls):
        cls.p.close()

    def setUp(self):
        self.p.configure({"mode": "ok"})

    def test_ok(self):
        r = self.p.compute(BATCH)
        self.assertAlmostEqual(r.loss, np.mean(BATCH["policy_logps"]), delta=1e-15)
        np.testing.assert_array_equal(r.grads["policy_logps"], np.full(3, 1 / 3))
        self.assertEqual(r.metrics, {"n": 3.0})

    def test_not_configured(self):
        with host.launch(FAULTY) as p:
            p._inputs = ("policy_logps",)
            with self.assertRaises(Exception) as cm:
                p.compute(BATCH)
            self.assertEqual(cm.exception.code, Code.NOT_CONFIGURED)

    def test_input_checks(self):
        cases = [
            ("missing", {"policy_logps": [1.0]}, Code.MISSING_INPUT, "labels", -1),
            ("empty", {"policy_logps": [], "labels": []}, Code.EMPTY_BATCH, "policy_logps", -1),
            ("mismatch", {"policy_logps": [1.0, 2.0], "labels": [True]}, Code.LENGTH_MISMATCH, "labels", -1),
            ("nan", {"policy_logps": [1.0, float("nan")], "labels": [True, True]}, Code.NON_FINITE, "policy_logps", 1),
        ]
        for name, batch, code, field, index in cases:
            with self.subTest(name):
                with self.assertRaises(InputError) as cm:
                    self.p.compute(batch)
                e = cm.exception
                self.assertEqual((e.code, e.field, e.index), (code, field, index), str(e))

    def test_author_errors(self):
        self.p.configure({"mode": "input_error"})
        with self.assertRaises(InputError) as cm:
            self.p.compute(BATCH)
        e = cm.exception
        self.assertEqual((e.code, e.field, e.index, e.value), (Code.OUT_OF_RANGE, "policy_logps", 0, -1.0))
        self.p.configure({"mode": "raise"})
        with self.assertRaises(InternalError) as cm:
            self.p.compute(BATCH)
        self.assertIn("ZeroDivisionError: boom", str(cm.exception))
        self.p.configure({"mode": "ok"})
        self.assertEqual(self.p.compute(BATCH).metrics["n"], 3.0, "the plugin survives its objective's exceptions")

    def test_bad_results_never_leave_the_plugin(self):
        for mode, field in [("nan_loss", "loss"), ("short_grad", "grads.policy_logps"),
                            ("nan_metric", "metrics.bad"), ("extra_grad", "grads.reference_logps")]:
            with self.subTest(mode):
                self.p.configure({"mode": mode})
                with self.assertRaises(ReplyError) as cm:
                    self.p.compute(BATCH)
                self.assertEqual(cm.exception.field, field)

    def test_param_errors(self):
        with self.assertRaises(ParamError) as cm:
            self.p.configure({"mode": "bogus", "extra": 1})
        e = cm.exception
        self.assertEqual([x.field for x in e.errors], ["extra", "mode"])
        self.assertTrue(all(x.code == Code.INVALID_PARAM for x in e.errors))

    def test_stray_print_goes_to_stderr(self):
        buf = tempfile.TemporaryFile("w+")
        self.addCleanup(buf.close)
        with host.launch(FAULTY, stderr=buf) as p:
            p.configure({"mode": "print"})
            p.compute(BATCH)
            p.compute(BATCH)
        buf.seek(0)
        self.assertIn("[faulty.py] stray output", buf.read())


class TestRestart(unittest.TestCase):
    def setUp(self):
        self.quiet = open(os.devnull, "w")
        self.addCleanup(self.quiet.close)

    def test_crash_and_hang_are_retried(self):
        for mode, timeout in [("crash_once", 10), ("hang_once", 1)]:
            with self.subTest(mode), tempfile.TemporaryDirectory() as d:
                with host.launch(FAULTY, timeout=timeout, max_attempts=2, stderr=self.quiet) as p:
                    p.configure({"mode": mode, "state": os.path.join(d, "state")})
                    r = p.compute(BATCH)
                    self.assertEqual(p.restarts, 1)
                    self.assertAlmostEqual(r.loss, np.mean(BATCH["policy_logps"]), delta=1e-15)

    def test_bounded(self):
        with host.launch(FAULTY, max_attempts=2, stderr=self.quiet) as p:
            p.configure({"mode": "ok"})
            p.argv = ["/bin/false"]  # every restart fails
            os.kill(p.pid, 9)
            with self.assertRaises(PluginError):
                p.compute(BATCH)


class TestHandshake(unittest.TestCase):
    def test_without_cookie(self):
        r = subprocess.run([DPOP], capture_output=True, env={k: v for k, v in os.environ.items()
                                                              if k != "PREFOPT_PLUGIN"})
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"prefopt objective plugin", r.stderr)

    def test_handshake_flushed_without_pythonunbuffered(self):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        for mtls in (True, False):
            with self.subTest(mtls=mtls), host.launch(DPOP, env=env, auto_mtls=mtls, start_timeout=20) as p:
                self.assertEqual(p.spec.name, "dpop")
                p.configure()

    def test_go_host_with_and_without_mtls(self):
        b = {"policy_chosen_logps": [-3, -5], "policy_rejected_logps": [-4, -6],
             "reference_chosen_logps": [-2, -6], "reference_rejected_logps": [-3, -2]}
        outs = []
        for flags in ([], ["--no-mtls"]):
            r = subprocess.run([prefopt_bin(), "objective", "eval", "--plugin", DPOP, "--input", "-", *flags],
                               input=json.dumps(b).encode(), capture_output=True, cwd=ROOT,
                               env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"})
            self.assertEqual(r.returncode, 0, r.stderr.decode())
            outs.append(json.loads(r.stdout))
        with host.launch(DPOP) as p:
            p.configure()
            want = p.compute(b)
        for out in outs:
            self.assertEqual(out["loss"], want.loss)
            self.assertEqual(out["grads"]["policy_chosen_logps"], want.grads["policy_chosen_logps"].tolist())


class TestWire(unittest.TestCase):
    def test_array_kinds(self):
        from prefopt._proto import objective_pb2 as pb
        a = pb.Array(ints=[1, 2])
        with self.assertRaises(InputError) as cm:
            _wire.array_from_pb("policy_logps", a)
        self.assertEqual(cm.exception.code, Code.OUT_OF_RANGE)
        self.assertEqual(_wire.array_from_pb("future_input", a).dtype, np.int64)
        self.assertEqual(_wire.array_from_pb("labels", pb.Array()).dtype, np.bool_)


class TestPerToken(unittest.TestCase):
    def test_ragged_round_trip(self):
        from prefopt._proto import objective_pb2 as pb
        from prefopt.ragged import Ragged
        r = Ragged.from_rows([[-1.0, -2.0], [], [-3.0]])
        a = pb.Array()
        _wire.array_to_pb(r, a)
        self.assertEqual(list(a.row_lengths), [2, 0, 1])
        back = _wire.array_from_pb("policy_token_logps", a)
        self.assertEqual(back, r)
        self.assertEqual(back.tolist(), [[-1.0, -2.0], [], [-3.0]])

    def test_array_shapes(self):
        from prefopt._proto import objective_pb2 as pb
        cases = [
            ("row_lengths_on_per_example", "policy_logps", pb.Array(floats=[1, 2], row_lengths=[1, 1])),
            ("overrun", "policy_token_logps", pb.Array(floats=[1, 2], row_lengths=[1, 2])),
            ("surplus", "policy_token_logps", pb.Array(floats=[1, 2, 3], row_lengths=[1, 1])),
            ("negative", "policy_token_logps", pb.Array(floats=[1], row_lengths=[-1, 2])),
        ]
        for label, name, a in cases:
            with self.subTest(label), self.assertRaises(InputError) as cm:
                _wire.array_from_pb(name, a)
            self.assertEqual((cm.exception.code, cm.exception.field), (Code.LENGTH_MISMATCH, name))
        with self.assertRaises(InputError) as cm:
            _wire.array_from_pb("policy_token_logps", pb.Array(ints=[1]))
        self.assertEqual(cm.exception.code, Code.OUT_OF_RANGE)

    def test_check_order_as_go(self):
        # core.Batch.Check walks the rows of a per-token input in order and
        # checks a row's length before its values.
        from prefopt.ragged import Ragged
        nan = float("nan")
        cases = [
            ("length_first", [[1.0], [2.0, 3.0], [nan]], [1, 1, 1], Code.LENGTH_MISMATCH, 1),
            ("nan_first", [[nan], [2.0, 3.0], [1.0]], [1, 1, 1], Code.NON_FINITE, 0),
            ("same_row", [[1.0], [nan, 3.0], [1.0]], [1, 1, 1], Code.LENGTH_MISMATCH, 1),
            ("nan_after_empty", [[], [1.0, nan], [1.0]], [0, 2, 1], Code.NON_FINITE, 1),
        ]
        for label, rows, lengths, code, index in cases:
            with self.subTest(label):
                batch = {"policy_logps": np.zeros(3), "lengths": np.array(lengths, dtype=np.int64),
                         "policy_token_logps": Ragged.from_rows(rows)}
                with self.assertRaises(InputError) as cm:
                    _wire.check_batch(batch, ["policy_logps", "lengths", "policy_token_logps"])
                e = cm.exception
                self.assertEqual((e.code, e.field, e.index), (code, "policy_token_logps", index), str(e))
        with self.assertRaises(InputError) as cm:
            _wire.check_batch({"policy_token_logps": Ragged.from_rows([[1.0]])}, ["policy_token_logps"])
        self.assertEqual((cm.exception.code, cm.exception.field), (Code.MISSING_INPUT, "lengths"))

    def test_token_grad_checks(self):
        from prefopt._proto import objective_pb2 as pb
        from prefopt.ragged import Ragged
        batch = {"lengths": np.array([2, 1]), "policy_token_logps": Ragged.from_rows([[1.0, 2.0], [3.0]])}
        names = ["lengths", "policy_token_logps"]
        field = "token_grads.policy_token_logps"
        cases = [
            ("missing", {}, field, -1),
            ("per_example", {"policy_token_logps": np.zeros(2)}, field, -1),
            ("short_row", {"policy_token_logps": _wire.grad_from_pb(pb.Array(floats=[1, 2, 3], row_lengths=[1, 3]))},
             field, 0),
            ("rows", {"policy_token_logps": Ragged.from_rows([[1.0, 2.0]])}, field, -1),
            ("nan", {"policy_token_logps": Ragged.from_rows([[1.0, 2.0], [float("inf")]])}, field, 1),
            ("other", {"policy_token_logps": Ragged.from_rows([[1.0, 2.0], [3.0]]),
                       "policy_chosen_token_logps": Ragged.from_rows([[1.0]])},
             "token_grads.policy_chosen_token_logps", -1),
        ]
        for label, grads, want_field, index in cases:
            with self.subTest(label), self.assertRaises(ReplyError) as cm:
                _wire.check_result(batch, names, 0.5, np.zeros(2), grads, {})
            self.assertEqual((cm.exception.field, cm.exception.index), (want_field, index), str(cm.exception))
        _wire.check_result(batch, names, 0.5, np.zeros(2), {"policy_token_logps": batch["policy_token_logps"]}, {})

    def test_columns(self):
        batch = {"policy_logps": np.zeros(3), "column.score": np.ones(2)}
        with self.assertRaises(InputError) as cm:
            _wire.check_batch(batch, ["policy_logps", "column.score"])
        self.assertEqual((cm.exception.code, cm.exception.field), (Code.LENGTH_MISMATCH, "column.score"))
        self.assertIsNone(_wire.vocab.lookup("column."))
        self.assertIsNone(_wire.vocab.lookup("column.a b"))
        self.assertFalse(_wire.vocab.is_policy("column.policy_x"))

    def test_list_values_encode_as_go(self):
        # core/plugin's anyListToPB: strings → string list, any float → float
        # list, integers or nothing → int list; bools and mixtures refused.
        cases = [([1, 2.5], "float_list"), ([1, 2], "int_list"), ([], "int_list"), (["a"], "string_list")]
        for v, kind in cases:
            self.assertEqual(_wire.value_to_pb(v).WhichOneof("kind"), kind, v)
            self.assertEqual(_wire.value_from_pb(_wire.value_to_pb(v)), v)
        for v in (["a", 1], [True]):
            with self.assertRaises(TypeError):
                _wire.value_to_pb(v)
        self.assertEqual(_wire.value_to_pb([1, 2], "float_list").WhichOneof("kind"), "float_list")

    def test_packed_floats_as_protobuf_reads_them(self):
        from prefopt._proto import objective_pb2 as pb
        rng = np.random.default_rng(3)
        special = [0.0, -0.0, float("nan"), float("inf"), -float("inf"), 5e-324, 1.7976931348623157e308]
        for n in (1, 7, 16, 1000, 20000):  # byte lengths with 1- to 3-byte varints
            with self.subTest(n=n):
                v = np.concatenate([rng.standard_normal(n), special])
                a = pb.Array(row_lengths=[1, len(v) - 1])
                _wire.floats_to_pb(v, a)
                want = np.array(list(pb.Array(floats=v.tolist()).floats))
                self.assertEqual(np.array(list(a.floats)).tobytes(), v.tobytes(), "protobuf reads what was packed")
                got = _wire.floats_from_pb(a)
                self.assertEqual(got.tobytes(), want.tobytes())
                self.assertTrue(got.flags.writeable and got.flags.owndata)
