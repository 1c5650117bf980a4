"""Parameter resolution gives the Go SDK's diagnostics: the same bad
parameters are sent to a Go built-in and to a Python servicer that serves
the built-in's own spec, and the replies must be equal."""

import unittest

from prefopt import _wire, host, plugin
from prefopt.errors import go_float
from prefopt._proto import objective_pb2 as pb
from tests.util import prefopt_bin


class TestGoFloat(unittest.TestCase):
    def test_matches_repr_round_trip(self):
        # Go's %v prints the shortest digits that round-trip, like repr; the
        # text must parse back to the same float.
        for v in [0.1, 1e-5, 1e-4, 1234567.0, 123456789.0, 1e20, 1e21, 50.0, 2.5, -3.25e-7, 1e6, 0.00012,
                  5e-324, 1.7976931348623157e308, 123456.0]:
            self.assertEqual(float(go_float(v)), v, go_float(v))

    def test_exponent_form(self):
        # strconv 'g' with shortest digits: exponent when < -4 or ≥ 6.
        self.assertIn("e", go_float(1e6))
        self.assertNotIn("e", go_float(123456.0))
        self.assertIn("e-05", go_float(1e-5))
        self.assertNotIn("e", go_float(1e-4))


class TestSameDiagnosticsAsGo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        prefopt_bin()
        cls.names = ["dpo", "kto", "ipo", "simpo", "orpo"]

    def test_configure_diagnostics(self):
        bad = [
            {"beta": -1.0}, {"beta": 0}, {"beta": "x"}, {"beta": True}, {"beta": 2},
            {"nope": 1}, {"nope": 1, "beta": -2.5e-7, "zzz": "a"}, {"loss_type": "bogus"}, {"loss_type": 3},
            {"label_smoothing": 0.5}, {"label_smoothing": 1e-300}, {"reference_free": 1}, {"gamma": 1234567.0},
            {"desirable_weight": 0.0}, {"alpha": -0.0},
            # Lists sent to scalar parameters (list parameters: tokenpo_test.go
            # in examples/plugins/python/tokenpo, against core.Spec.Resolve).
            {"beta": [1.0, 2.5]}, {"beta": [1, 2]}, {"loss_type": ["sigmoid", "x"]}, {"beta": []},
            {"gamma": [1e-300, 1e21]},
        ]
        for name in self.names:
            with host.builtin(name) as go:
                spec = go.spec

                class Mirror:
                    pass

                Mirror.spec = spec

                def init(self, params):
                    self.inputs = []

                Mirror.__init__ = init
                py = plugin.Servicer(Mirror)
                self.assertEqual(py.GetSpec(pb.GetSpecRequest()).spec,
                                 _wire.spec_to_pb(spec), "spec of %s survives the round trip" % name)
                for params in bad:
                    req = pb.ConfigureRequest()
                    for k, v in params.items():
                        req.params[k].CopyFrom(_wire.value_to_pb(v))
                    want = go._rpc("Configure", req, 10)
                    got = py.Configure(req)
                    with self.subTest(objective=name, params=params):
                        self.assertEqual(list(got.diagnostics), list(want.diagnostics))
                        if not want.diagnostics:
                            self.assertEqual(dict(got.resolved), dict(want.resolved))
                            self.assertEqual(sorted(got.set), sorted(want.set))
