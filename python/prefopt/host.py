"""Launch and call prefopt objective plugins from Python, as the Go host does.

::

    from prefopt import host

    with host.builtin("dpo") as obj:          # served by the prefopt binary
        obj.configure({"beta": 0.1})
        r = obj.compute({"policy_chosen_logps": [...], ...})
        r.loss, r.losses, r.grads, r.metrics

    with host.launch("./tokenpo.py") as obj:  # any plugin executable
        obj.configure({"loss_type": ["sigmoid", "ipo"], "loss_weights": [1.0, 0.5]})
        r = obj.compute({"policy_chosen_token_logps": [[-1.2, -0.3], [-2.0]],  # one list per example
                         "chosen_lengths": [2, 1], ...})
        r.grads["policy_chosen_token_logps"]    # a prefopt.ragged.Ragged, per token

A :class:`Plugin` owns one process. Problems the user must fix come back as
typed exceptions (:class:`prefopt.errors.ParamError`, ``InputError``, ...)
carrying the diagnostic's code, field and index; a crash or timeout of the
process is retried after a restart and re-configure, up to ``max_attempts``
calls per request; a reply that breaks the contract (NaN, wrong length)
raises :class:`prefopt.errors.ReplyError` before the caller sees it.

The process never outlives the Python process: it gets SIGKILL when the
thread that started it exits (PR_SET_PDEATHSIG — start plugins from a
long-lived thread, normally the main one), and open plugins are closed at
interpreter exit.
"""

import atexit
import ctypes
import io
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref

import grpc
import numpy as np

from . import PROTOCOL_VERSION, _rpc, _wire
from . import inputs as vocab
from .errors import Code, PluginError, PrefoptError, ReplyError
from .ragged import Ragged
from .result import Result
from .spec import Params
from ._proto import objective_pb2 as pb

_live = weakref.WeakSet()


@atexit.register
def _close_all():
    for p in list(_live):
        p.close()


def _pdeathsig():
    # PR_SET_PDEATHSIG = 1: the kernel kills the child when its parent dies.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def find_prefopt():
    """Returns the prefopt binary: $PREFOPT_BIN, else ``prefopt`` on PATH.
    Raises PluginError when there is none."""
    path = os.environ.get("PREFOPT_BIN") or shutil.which("prefopt")
    if not path:
        raise PluginError("prefopt.host: no prefopt binary: set PREFOPT_BIN or put prefopt on PATH")
    return path


def launch(path, args=(), **kw):
    """Starts the plugin executable at path and returns a :class:`Plugin`."""
    return Plugin([path, *args], **kw)


def builtin(name, **kw):
    """Starts the built-in objective name, served by the prefopt binary
    (:func:`find_prefopt`) with ``prefopt objective serve NAME``, or with
    ``PREFOPT_SERVE_BUILTIN=NAME`` by binaries without that command."""
    binary = find_prefopt()
    kw.setdefault("label", name)
    out = kw.get("stderr") or sys.stderr
    probe = io.StringIO()
    try:
        p = Plugin([binary, "objective", "serve", name], **dict(kw, stderr=probe))
        p._stderr = out
        return p
    except PluginError as e:
        if e.exit_code != 2:  # the command exists and failed: show why
            out.write(probe.getvalue())
            raise
    env = dict(kw.pop("env", None) or {}, PREFOPT_SERVE_BUILTIN=name)
    return Plugin([binary], env=env, **kw)


class Plugin:
    """One plugin process and its gRPC channel.

    argv: the command; env: added to this process's environment; label:
    prefixes the plugin's stderr lines; auto_mtls: authenticate both sides
    with one-time certificates (go-plugin's AutoMTLS); timeout: seconds per
    Configure/Compute call (None: unbounded); start_timeout: seconds for the
    handshake; max_attempts: calls per request across restarts; backoff:
    seconds before the first retry, doubled each time.

    Not safe for concurrent use from several threads.
    """

    def __init__(self, argv, *, env=None, label=None, auto_mtls=True, timeout=60.0, start_timeout=30.0,
                 max_attempts=3, backoff=0.05, stderr=None):
        self.argv = list(argv)
        self.env = dict(env or {})
        self.label = label or os.path.basename(self.argv[0])
        self.auto_mtls = auto_mtls
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.restarts = 0
        self._stderr = stderr or sys.stderr
        self._proc = None
        self._channel = None
        self._sockdir = None
        self._params = None
        self._inputs = None
        self.spec = None
        self._start()
        _live.add(self)

    # ---- lifecycle

    def _start(self):
        self._sockdir = tempfile.mkdtemp(prefix="prefopt-")
        env = dict(os.environ, **self.env)
        env.update(PREFOPT_PLUGIN="objective", PLUGIN_PROTOCOL_VERSIONS=str(PROTOCOL_VERSION),
                   PLUGIN_MIN_PORT="10000", PLUGIN_MAX_PORT="25000", PLUGIN_UNIX_SOCKET_DIR=self._sockdir)
        env.pop("PLUGIN_CLIENT_CERT", None)
        if self.auto_mtls:
            cert_pem, key_pem = _rpc.new_certificate()
            env["PLUGIN_CLIENT_CERT"] = cert_pem.decode()
        try:
            self._proc = subprocess.Popen(self.argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, preexec_fn=_pdeathsig)
        except OSError as e:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            raise PluginError("prefopt.host: plugin %s: start %s: %s" % (self.label, self.argv[0], e)) from None
        lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self._proc.stdout, lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self._proc.stderr, None), daemon=True).start()
        try:
            try:
                line = lines.get(timeout=self.start_timeout)
            except queue.Empty:
                raise self._start_error("no handshake within %gs" % self.start_timeout) from None
            if line is None:
                raise self._start_error("exited before its handshake (status %s): it crashed at start or is not a "
                                        "prefopt objective plugin (its stderr, if any, is above)"
                                        % self._proc.wait())
            target, server_pem = self._parse_handshake(line)
            if self.auto_mtls:
                if not server_pem:
                    raise self._start_error("does not support AutoMTLS (no certificate in its handshake): "
                                            "start it with auto_mtls=False")
                creds = grpc.ssl_channel_credentials(root_certificates=server_pem, private_key=key_pem,
                                                     certificate_chain=cert_pem)
                self._channel = grpc.secure_channel(target, creds, options=_rpc.GRPC_OPTIONS + [
                    ("grpc.ssl_target_name_override", "localhost")])
            else:
                if server_pem:
                    raise self._start_error("requires AutoMTLS: start it with auto_mtls=True")
                self._channel = grpc.insecure_channel(target, options=_rpc.GRPC_OPTIONS)
            try:
                grpc.channel_ready_future(self._channel).result(timeout=self.start_timeout)
            except grpc.FutureTimeoutError:
                raise self._start_error("channel to %s not ready within %gs" % (target, self.start_timeout)) from None
            self._stubs = {name: self._channel.unary_unary("/%s/%s" % (_rpc.OBJECTIVE, name),
                                                           request_serializer=req.SerializeToString,
                                                           response_deserializer=resp.FromString)
                           for name, req, resp in _rpc.OBJECTIVE_METHODS}
            resp = self._rpc("GetSpec", pb.GetSpecRequest(), self.start_timeout)
            spec = _wire.spec_from_pb(resp.spec)
            try:
                spec.validate()
            except ValueError as e:
                raise self._start_error("invalid spec: %s" % e) from None
            self.spec = spec
        except BaseException:
            self._kill()
            raise

    def _start_error(self, msg):
        e = PluginError("prefopt.host: plugin %s %s" % (self.label, msg))
        e.exit_code = self._proc.poll() if self._proc else None
        return e

    def _parse_handshake(self, line):
        parts = line.strip().split("|")
        if len(parts) < 5:
            raise self._start_error("printed %r on stdout before its handshake: a plugin must write nothing to "
                                    "stdout before serving" % line.strip())
        core, app, network, addr, proto = parts[:5]
        if core != "1":
            raise self._start_error("speaks go-plugin core protocol %s, want 1" % core)
        if app != str(PROTOCOL_VERSION):
            raise self._start_error("speaks objective protocol v%s but this prefopt speaks v%d" % (app, PROTOCOL_VERSION))
        if proto != "grpc":
            raise self._start_error("serves %s, want grpc" % proto)
        if network == "unix":
            target = "unix-abstract:" + addr[1:] if addr.startswith("@") else "unix:" + addr
        elif network == "tcp":
            target = addr
        else:
            raise self._start_error("listens on unknown network %r" % network)
        cert = parts[5] if len(parts) > 5 else ""
        return target, (_rpc.handshake_to_pem(cert) if cert else None)

    def _pump(self, stream, lines):
        prefix = "[%s] " % self.label
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if lines is not None:
                lines.put(line)
                lines = None
                continue
            if line.startswith('{"@level":"debug"') or line.startswith('{"@level":"trace"'):
                continue
            try:
                self._stderr.write(prefix + line + "\n")
            except ValueError:  # stream closed at interpreter exit
                return
        if lines is not None:
            lines.put(None)
        stream.close()

    @property
    def pid(self):
        """The plugin's process id, None when not running."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def restart(self):
        """Kills the process, starts a new one and re-configures it with the
        parameters of the last successful configure."""
        self._kill()
        self._start()
        self.restarts += 1
        if self._params is not None:
            self._configure(self._params)

    def close(self):
        """Stops the plugin gracefully (go-plugin's controller Shutdown),
        SIGKILLs it after 2 s. Safe to call more than once."""
        if self._proc is None:
            return
        if self._proc.poll() is None and self._channel is not None:
            shutdown = self._channel.unary_unary(_rpc.CONTROLLER_SHUTDOWN, request_serializer=lambda b: b,
                                                 response_deserializer=lambda b: b)
            try:
                shutdown(b"", timeout=2)
            except grpc.RpcError:
                pass  # a Go plugin stops its server before replying
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        self._kill()
        _live.discard(self)

    def _kill(self):
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._sockdir is not None:
            shutil.rmtree(self._sockdir, ignore_errors=True)
            self._sockdir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- calls

    def _rpc(self, method, req, timeout):
        if self._proc is None or self._proc.poll() is not None:
            raise PluginError("prefopt.host: plugin %s: process exited" % self.label)
        try:
            return self._stubs[method](req, timeout=timeout)
        except grpc.RpcError as e:
            raise PluginError("prefopt.host: plugin %s: %s: %s: %s"
                              % (self.label, method.lower(), e.code().name, e.details())) from None

    def _call(self, method, req):
        """Calls method, restarting and retrying on transport failures."""
        wait = self.backoff
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self._rpc(method, req, self.timeout)
            except PluginError as e:
                if attempt >= self.max_attempts:
                    if attempt > 1:
                        e.args = ("%s (after %d attempts)" % (e, attempt),)
                        e.msg = e.args[0]
                    raise
                self._stderr.write("prefopt.host: plugin %s call failed (attempt %d of %d), restarting: %s\n"
                                   % (self.label, attempt, self.max_attempts, e))
                time.sleep(wait)
                wait *= 2
                self.restart()

    def _configure(self, params):
        req = pb.ConfigureRequest()
        for k, v in params.items():
            req.params[k].CopyFrom(_wire.value_to_pb(v))
        resp = self._rpc("Configure", req, self.timeout)
        err = _wire.error_from_pb(resp.diagnostics)
        if err is not None:
            raise err
        for name in resp.inputs:
            if vocab.lookup(name) is None:
                raise PluginError("prefopt.host: plugin %s needs input %r, which this prefopt cannot provide"
                                  % (self.label, name))
        return resp

    def configure(self, params=None):
        """Sends the user's parameters (bool, int, float, str values, or lists
        of numbers or of strings); the plugin resolves and validates them. Returns the resolved Params
        (defaults included, ``set`` the names given). Raises ParamError with
        every problem in ``errors``."""
        params = dict(params or {})
        for k, v in params.items():
            try:
                _wire.value_to_pb(v)
            except TypeError as e:
                raise PrefoptError('parameter "%s": %s' % (k, e), field=k) from None
        resp = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                resp = self._configure(params)
                break
            except PluginError:
                if attempt >= self.max_attempts:
                    raise
                self._kill()
                self._start()
                self.restarts += 1
        self._params = params
        self._inputs = tuple(resp.inputs)
        return Params({k: _wire.value_from_pb(v) for k, v in resp.resolved.items()}, resp.set)

    @property
    def inputs(self):
        """The input names the configured objective reads, in canonical order."""
        if self._inputs is None:
            raise PrefoptError("prefopt.host: plugin %s is not configured" % self.label, field="")
        return self._inputs

    def compute(self, batch):
        """Computes the objective on batch, a dict keyed by input name (extra
        names are ignored) of one-dimensional array-likes, and for a
        per-token input a :class:`prefopt.ragged.Ragged` or a sequence of
        1-D array-likes, one per example (a list of lists as in a batch
        JSON). Returns a Result of float64 numpy arrays — a Ragged for the
        gradient of a per-token input — checked against the contract as
        core.CheckResult does."""
        names = self.inputs
        arrays, req = {}, pb.ComputeRequest()
        for name in names:
            if name not in batch:
                continue
            a = _as_input(name, batch[name])
            arrays[name] = a
            _wire.array_to_pb(a, req.inputs[name])
        resp = self._call("Compute", req)
        err = _wire.error_from_pb(resp.diagnostics)
        if err is not None:
            raise err
        r = Result(loss=resp.loss, losses=np.array(resp.losses, dtype=np.float64),
                   grads={k: _wire.grad_from_pb(g) for k, g in resp.grads.items()},
                   metrics=dict(resp.metrics))
        _wire.check_result(arrays, names, r.loss, r.losses, r.grads, r.metrics)
        return r


def _as_input(name, x):
    """Returns x as the array type of input name: float64, int64 or bool, or
    a Ragged for a per-token input."""
    if vocab.is_tokens(name):
        try:
            return Ragged.from_rows(x)
        except (TypeError, ValueError) as e:
            raise PrefoptError("prefopt.host: input %s: %s" % (name, e), field=name) from None
    a = np.asarray(x)
    if a.ndim != 1:
        raise PrefoptError("prefopt.host: input %s must be one-dimensional, got shape %s" % (name, a.shape),
                           field=name)
    f = vocab.lookup(name)
    kind = f.kind if f else {np.dtype(bool): vocab.BOOL}.get(a.dtype, vocab.COUNT if a.dtype.kind in "iu" else vocab.FLOAT)
    if kind == vocab.FLOAT:
        return a.astype(np.float64, copy=False)
    if kind == vocab.BOOL:
        return a.astype(np.bool_, copy=False)
    b = a.astype(np.int64)
    if a.dtype.kind == "f" and not np.array_equal(b, a):
        raise PrefoptError("prefopt.host: input %s holds token counts but has non-integer values" % name,
                           field=name, index=int(np.flatnonzero(b != a)[0]))
    return b


__all__ = ["Plugin", "launch", "builtin", "find_prefopt", "Result", "Code", "ReplyError"]
