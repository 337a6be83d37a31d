"""A ring of 16-bit samples between two threads that tick on different clocks.

One thread writes (PJSIP's media clock or a device callback), another reads. A lock keeps
the two index updates consistent; both sides hold it for a copy of at most a few hundred
samples, far below a frame period.
"""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]


class SampleFifo:
    """Bounded FIFO of mono int16 samples; when full, the oldest samples make room."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._buf: Samples = np.zeros(capacity, dtype=np.int16)
        self._cap = capacity
        self._start = 0
        self._len = 0
        self._lock = threading.Lock()
        self.overflowed = 0  # samples discarded because the reader fell behind

    @property
    def capacity(self) -> int:
        return self._cap

    def __len__(self) -> int:
        return self._len

    def write(self, samples: Samples) -> None:
        n = int(samples.shape[0])
        if n == 0:
            return
        with self._lock:
            if n >= self._cap:
                self.overflowed += self._len + n - self._cap
                samples = samples[n - self._cap :]
                n = self._cap
                self._start, self._len = 0, 0
            excess = self._len + n - self._cap
            if excess > 0:
                self.overflowed += excess
                self._start = (self._start + excess) % self._cap
                self._len -= excess
            end = (self._start + self._len) % self._cap
            first = min(n, self._cap - end)
            self._buf[end : end + first] = samples[:first]
            if first < n:
                self._buf[: n - first] = samples[first:]
            self._len += n

    def read_into(self, out: Samples) -> int:
        """Fill `out` from the front; returns how many samples were available (<= len(out))."""
        with self._lock:
            n = min(int(out.shape[0]), self._len)
            first = min(n, self._cap - self._start)
            out[:first] = self._buf[self._start : self._start + first]
            if first < n:
                out[first:n] = self._buf[: n - first]
            self._start = (self._start + n) % self._cap
            self._len -= n
            return n

    def peek_into(self, out: Samples) -> int:
        """Like read_into, but leaves the samples in the FIFO."""
        with self._lock:
            n = min(int(out.shape[0]), self._len)
            first = min(n, self._cap - self._start)
            out[:first] = self._buf[self._start : self._start + first]
            if first < n:
                out[first:n] = self._buf[: n - first]
            return n

    def discard(self, n: int) -> int:
        with self._lock:
            n = max(0, min(n, self._len))
            self._start = (self._start + n) % self._cap
            self._len -= n
            return n

    def clear(self) -> None:
        with self._lock:
            self._start, self._len = 0, 0
