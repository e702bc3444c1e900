"""A bounded, in-memory history of readings per deployment, for when no Prometheus keeps one.

:class:`Histories` takes each refresh's snapshot of a deployment, turns it into a reading
against the previous snapshot, and keeps the readings of the last ``window_s`` seconds (an
hour by default): a refresh every 15 s keeps 240 readings a deployment. A deployment not seen
for a whole window is forgotten. Safe to share between threads (the server's requests).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Iterable

from kubefoundry.metrics import readings
from kubefoundry.metrics.parsing import Snapshot

WINDOW_S = 3600.0


@dataclasses.dataclass(frozen=True)
class GpuTime:
    hours: float  # of the window that had GPUs counted
    gpu_hours: float  # provisioned
    busy_gpu_hours: float  # of those, with a request running


@dataclasses.dataclass
class _Track:
    last: Snapshot
    readings: collections.deque[readings.Reading]


class Histories:
    def __init__(self, *, window_s: float = WINDOW_S) -> None:
        self.window_s = window_s
        self._tracks: dict[str, _Track] = {}
        self._lock = threading.Lock()

    def observe(
        self, key: str, snapshot: Snapshot, *, gpus: int | None = None, busy: int | None = None
    ) -> readings.Reading:
        """The reading since ``key``'s previous snapshot (levels only for the first), kept,
        with the GPUs its pods hold and how many of them were busy."""
        with self._lock:
            return self._observe(key, snapshot, gpus=gpus, busy=busy)

    def _observe(
        self, key: str, snapshot: Snapshot, *, gpus: int | None, busy: int | None
    ) -> readings.Reading:
        track = self._tracks.get(key)
        reading = readings.reading(track.last if track else None, snapshot)
        reading = dataclasses.replace(reading, gpus=gpus, busy_gpus=busy)
        if track is None:
            track = self._tracks[key] = _Track(snapshot, collections.deque())
        track.last = snapshot
        track.readings.append(reading)
        while track.readings and track.readings[0].at < snapshot.at - self.window_s:
            track.readings.popleft()
        self._forget_older_than(snapshot.at - self.window_s)
        return reading

    def readings(self, key: str) -> tuple[readings.Reading, ...]:
        with self._lock:
            track = self._tracks.get(key)
            return tuple(track.readings) if track else ()

    def gpu_time(self, key: str) -> GpuTime:
        """The kept window's hours, and the GPU-hours provisioned and busy in it: each
        interval counted at the GPUs (and busy GPUs) its closing reading saw (seed 001's
        goodput denominator)."""
        hours = provisioned = busy = 0.0
        for r in self.readings(key):
            if r.interval_s is None or r.gpus is None:
                continue
            hours += r.interval_s / 3600.0
            provisioned += r.interval_s * r.gpus / 3600.0
            busy += r.interval_s * (r.busy_gpus or 0) / 3600.0
        return GpuTime(hours, provisioned, busy)

    def keys(self) -> Iterable[str]:
        with self._lock:
            return tuple(self._tracks)

    def _forget_older_than(self, cutoff: float) -> None:
        for key in [k for k, t in self._tracks.items() if t.last.at < cutoff]:
            del self._tracks[key]
