"""Ragged arrays: one 1-D float64 array per example, stored end to end.

A per-token input (``policy_chosen_token_logps``, ...) and its gradient are
a :class:`Ragged`: ``values`` holds the tokens of all examples end to end and
``lengths`` the token count of each, so example i owns
``values[offsets[i]:offsets[i + 1]]`` — the protocol's packed ``floats`` and
``row_lengths``. It behaves as a sequence of 1-D arrays (``len``, indexing,
iteration give views), and exposes the packed form for vectorised numpy::

    r = batch["policy_chosen_token_logps"]
    sums = r.row_sums()                    # one value per example
    per_token = x[r.row_ids()]             # broadcast a per-example x to tokens
    grad = r.like(g_flat)                  # a gradient shaped like r
"""

import numpy as np


class Ragged:
    """A sequence of 1-D float64 arrays stored end to end.

    values: the packed values (converted to float64); lengths: the length
    of each row (int64, non-negative, summing to len(values)). Raises
    ValueError otherwise."""

    __slots__ = ("values", "lengths", "offsets")

    def __init__(self, values, lengths):
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if lengths.size and lengths.min() < 0:
            raise ValueError("prefopt.ragged: negative row length %d" % lengths.min())
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1] != len(values):
            raise ValueError("prefopt.ragged: row lengths add up to %d but %d values are packed"
                             % (offsets[-1], len(values)))
        self.values, self.lengths, self.offsets = values, lengths, offsets

    @classmethod
    def from_rows(cls, rows):
        """Returns the Ragged of rows, a sequence of 1-D array-likes (a list
        of lists as JSON has it, or a 2-D array whose rows all count)."""
        if isinstance(rows, Ragged):
            return rows
        arrays = [np.asarray(r, dtype=np.float64) for r in rows]
        for i, a in enumerate(arrays):
            if a.ndim != 1:
                raise ValueError("prefopt.ragged: row %d must be one-dimensional, got shape %s" % (i, a.shape))
        values = np.concatenate(arrays) if arrays else np.zeros(0)
        return cls(values, [len(a) for a in arrays])

    def like(self, values):
        """Returns a Ragged with the row lengths of self and the given packed
        values (a gradient, say)."""
        return Ragged(values, self.lengths)

    def __len__(self):
        return len(self.lengths)

    def __getitem__(self, i):
        n = len(self.lengths)
        if not -n <= i < n:
            raise IndexError("prefopt.ragged: row %d of %d" % (i, n))
        i %= n
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def __iter__(self):
        for i in range(len(self.lengths)):
            yield self.values[self.offsets[i]:self.offsets[i + 1]]

    def __repr__(self):
        return "Ragged(%r)" % self.tolist()

    def __eq__(self, other):
        if not isinstance(other, Ragged):
            return NotImplemented
        return np.array_equal(self.lengths, other.lengths) and np.array_equal(self.values, other.values)

    __hash__ = None

    def row_ids(self):
        """Returns the example index of every packed value (int64)."""
        return np.repeat(np.arange(len(self.lengths)), self.lengths)

    def row_sums(self, values=None):
        """Returns the sum of each row of values (default self.values; any
        packed array of the same length), 0 for an empty row. Raises
        ValueError for another length."""
        v = self.values if values is None else np.asarray(values, dtype=np.float64)
        if v.shape != self.values.shape:
            raise ValueError("prefopt.ragged: %d packed values for rows of %d" % (v.size, len(self.values)))
        out = np.zeros(len(self.lengths))
        full = self.lengths > 0
        if full.any():
            out[full] = np.add.reduceat(v, self.offsets[:-1][full])
        return out

    def tolist(self):
        """Returns the rows as a list of lists of floats."""
        return [r.tolist() for r in self]

    def setflags(self, write):
        """Sets the writeable flag of the packed arrays (views follow)."""
        self.values.flags.writeable = write
        self.lengths.flags.writeable = write
