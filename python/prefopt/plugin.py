"""Serve an objective written in Python as a prefopt plugin.

An author writes the math; :func:`serve` does the rest: the go-plugin
handshake, AutoMTLS, parameter validation, input checks, typed diagnostics,
result validation, the health service and graceful shutdown::

    #!/usr/bin/python3
    from prefopt import plugin

    class MyObjective(plugin.Objective):
        spec = plugin.Spec("myobj", "1.0.0", "what it computes",
                           [plugin.Param("beta", float, 0.1, min=0, min_exclusive=True)])

        def __init__(self, params):        # params: resolved, defaults filled
            self.beta = params["beta"]
            self.inputs = ["policy_chosen_logps", "policy_rejected_logps"]

        def compute(self, batch):          # batch: dict name -> numpy array (Ragged per token)
            ...
            return plugin.Result(loss, losses, {"policy_chosen_logps": g1, ...}, {"metric": m})

    if __name__ == "__main__":
        plugin.serve(MyObjective)

Contract: ``cls.spec`` is a :class:`Spec`; ``cls(params)`` builds the
configured objective (it may raise :class:`ParamError` for constraints
between parameters) and sets ``inputs``, the names ``compute`` reads — they
may depend on the parameters; the SDK puts them in canonical order
(:func:`prefopt.inputs.sort_key`). A list parameter resolves to a Python
list. ``compute(batch)`` receives only those inputs, already checked as
core.Batch.Check does (present, non-empty, equal lengths per layout, finite
floats, non-negative counts, per-token rows as long as their lengths input,
data columns as long as the other inputs) as read-only float64, int64 or
bool arrays — a per-token input as a read-only :class:`Ragged` — and returns
a :class:`Result`: the mean loss, one loss per example, the gradient of
``loss`` with respect to every policy input read (for a per-token input a
Ragged shaped like it, or a sequence of 1-D arrays, one per example), and
finite metrics. Data columns (``column.<key>``) are read like any float
input and get no gradient. Raise :class:`InputError` (with field and index)
for inputs outside the objective's domain (:func:`require_positive` for
lengths the objective divides by); any other exception is reported to the
host as an internal error and the plugin keeps serving.
"""

import concurrent.futures
import os
import signal
import sys
import tempfile
import threading
import traceback
from typing import Sequence

import grpc
import numpy as np

from . import PROTOCOL_VERSION, _rpc, _wire
from . import inputs as vocab
from ._wire import require_positive  # noqa: F401 (re-exported)
from .errors import Code, InputError, InternalError, ParamError, PrefoptError  # noqa: F401 (re-exported)
from .ragged import Ragged  # noqa: F401 (re-exported)
from .result import Result  # noqa: F401 (re-exported)
from .spec import Param, Params, Spec  # noqa: F401 (re-exported)
from ._proto import objective_pb2 as pb

MAGIC_COOKIE_KEY = "PREFOPT_PLUGIN"
MAGIC_COOKIE_VALUE = "objective"


class Objective:
    """Optional base class: documents the contract, holds nothing."""

    spec: Spec
    inputs: Sequence[str] = ()

    def compute(self, batch):  # pragma: no cover - the author's method
        raise NotImplementedError


class Servicer:
    """The Objective service around an objective class; usable without a
    process boundary (tests call its methods directly)."""

    def __init__(self, cls):
        cls.spec.validate()
        self._cls = cls
        self._lock = threading.Lock()
        self._obj = None
        self._inputs = ()

    def GetSpec(self, req, ctx=None):
        return pb.GetSpecResponse(spec=_wire.spec_to_pb(self._cls.spec))

    def Configure(self, req, ctx=None):
        resp = pb.ConfigureResponse()
        try:
            raw = {k: _wire.value_from_pb(v) for k, v in req.params.items()}
            params = self._cls.spec.resolve(raw)
            obj = self._cls(params)
            names = sorted(set(obj.inputs), key=vocab.sort_key)
        except Exception as e:  # every failure goes back as diagnostics
            _wire.diagnostics_to_pb(_as_prefopt(e), resp.diagnostics)
            return resp
        with self._lock:
            self._obj, self._inputs = obj, tuple(names)
        resp.inputs.extend(names)
        for k, v in params.items():
            resp.resolved[k].CopyFrom(_wire.value_to_pb(v, self._cls.spec.param(k).type))
        resp.set.extend(sorted(params.set))
        return resp

    def Compute(self, req, ctx=None):
        resp = pb.ComputeResponse()
        with self._lock:
            obj, names = self._obj, self._inputs
        if obj is None:
            resp.diagnostics.add(code=int(Code.NOT_CONFIGURED), message="Compute called before Configure", index=-1)
            return resp
        try:
            batch = {}
            for name in names:
                if name in req.inputs:
                    a = _wire.array_from_pb(name, req.inputs[name])
                    if isinstance(a, Ragged):
                        a.setflags(False)
                    else:
                        a.flags.writeable = False
                    batch[name] = a
            _wire.check_batch(batch, names)
            r = obj.compute(batch)
            loss = float(r.loss)
            losses = np.asarray(r.losses, dtype=np.float64)
            grads = {k: _grad(k, v) for k, v in r.grads.items()}
            metrics = {k: float(v) for k, v in (r.metrics or {}).items()}
            _wire.check_result(batch, names, loss, losses, grads, metrics)
        except Exception as e:
            _wire.diagnostics_to_pb(_as_prefopt(e), resp.diagnostics)
            return resp
        resp.loss = loss
        resp.losses.extend(losses.tolist())
        for k, g in grads.items():
            _wire.array_to_pb(g, resp.grads[k])
        for k, v in metrics.items():
            resp.metrics[k] = v
        return resp


def _grad(name, g):
    """Returns an author's gradient as check_result takes it: a Ragged for a
    per-token input, a float64 array otherwise."""
    if isinstance(g, Ragged):
        return g
    if vocab.is_tokens(name):
        return Ragged.from_rows(g)
    return np.asarray(g, dtype=np.float64)


def _as_prefopt(e):
    if isinstance(e, PrefoptError):
        return e
    return InternalError("%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()))


def _handlers(servicer, stop):
    ident = lambda b: b  # noqa: E731 - raw bytes for the schema-less services
    methods = {name: grpc.unary_unary_rpc_method_handler(
        getattr(servicer, name), request_deserializer=req.FromString,
        response_serializer=resp.SerializeToString) for name, req, resp in _rpc.OBJECTIVE_METHODS}

    def shutdown(req, ctx):
        stop.set()
        return b""

    def health(req, ctx):
        return _rpc.HEALTH_SERVING

    return [
        grpc.method_handlers_generic_handler(_rpc.OBJECTIVE, methods),
        grpc.method_handlers_generic_handler("plugin.GRPCController", {"Shutdown": grpc.unary_unary_rpc_method_handler(
            shutdown, request_deserializer=ident, response_serializer=ident)}),
        grpc.method_handlers_generic_handler(_rpc.HEALTH, {"Check": grpc.unary_unary_rpc_method_handler(
            health, request_deserializer=ident, response_serializer=ident)}),
    ]


def serve(cls):
    """Serves the objective class cls as a plugin on stdin/stdout as
    go-plugin expects, and returns when the host shuts it down (controller
    Shutdown, SIGTERM, or the host's exit). Call it from ``__main__``;
    nothing may be written to stdout before it. Exits with status 1 and a
    message on stderr when not started by a prefopt host."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write("prefopt.plugin: this program is a prefopt objective plugin: run it through a prefopt host "
                         "(prefopt objective eval --plugin PATH, or a [[objective]] path in a config)\n")
        sys.exit(1)
    versions = [v.strip() for v in os.environ.get("PLUGIN_PROTOCOL_VERSIONS", "").split(",") if v.strip()]
    if versions and str(PROTOCOL_VERSION) not in versions:
        sys.stderr.write("prefopt.plugin: the host speaks objective protocol version(s) %s, this plugin %d\n"
                         % (",".join(versions), PROTOCOL_VERSION))
        sys.exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host owns Ctrl-C and closes us itself
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4), options=_rpc.GRPC_OPTIONS)
    server.add_generic_rpc_handlers(_handlers(Servicer(cls), stop))
    sockdir = tempfile.mkdtemp(prefix="prefopt-py-", dir=os.environ.get("PLUGIN_UNIX_SOCKET_DIR") or None)
    sock = os.path.join(sockdir, "plugin.sock")
    client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "")
    cert_field = ""
    if client_cert:
        cert_pem, key_pem = _rpc.new_certificate()
        creds = grpc.ssl_server_credentials([(key_pem, cert_pem)], root_certificates=client_cert.encode(),
                                            require_client_auth=True)
        server.add_secure_port("unix:" + sock, creds)
        cert_field = _rpc.pem_to_handshake(cert_pem)
    else:
        server.add_insecure_port("unix:" + sock)
    server.start()

    sys.stdout.write("1|%d|unix|%s|grpc|%s\n" % (PROTOCOL_VERSION, sock, cert_field))
    sys.stdout.flush()
    # Nothing else may reach the host's stdout reader: stray prints go to stderr.
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    # The host may die without calling Shutdown; a parent change means it did.
    parent = os.getppid()
    while not stop.wait(0.5):
        if os.getppid() != parent:
            break
    server.stop(grace=1).wait()
    try:
        os.rmdir(sockdir)
    except OSError:
        pass
