"""prefopt objectives from Python.

- :mod:`prefopt.plugin` serves an objective written in Python as a prefopt
  plugin (the Go host, or any host of protocol v1, calls it).
- :mod:`prefopt.host` launches and calls a plugin (a built-in of the
  ``prefopt`` binary or a third-party one) from Python.
- :mod:`prefopt.torch` wraps a plugin as an autograd-aware loss for PyTorch.
- :mod:`prefopt.errors` holds the typed exceptions and diagnostic codes.
- :mod:`prefopt.inputs` names the inputs (core.Fields); :mod:`prefopt.ragged`
  holds per-token inputs and their gradients.

Protocol: core/proto/prefopt/objective/v1/objective.proto.
"""

PROTOCOL_VERSION = 1
"""The objective protocol version spoken: the N of prefopt.objective.vN."""
