"""Fault budgets (what the next audio request gets) and request statistics (what /admin/stats reports).

The semantics are documented in scripts/local-speech-server.py; `Faults.take` is where they are implemented.
"""

from __future__ import annotations

import threading
import time

from .errors import ApiError

FAULT_ORDER = ("drop_first", "rate_limit_first", "fail_first", "malformed_first", "garbage_first")
FAULT_DEFAULTS = {
    "latency_ms": 0,
    "fail_first": 0,
    "fail_status": 500,
    "rate_limit_first": 0,
    "retry_after": 1,
    "drop_first": 0,
    "malformed_first": 0,
    "garbage_first": 0,
    "fail_always_status": None,
}


class Faults:
    """The fault settings and what is left of each "first N" budget; `take` is called once per audio request."""

    def __init__(self, settings: dict):
        self._lock = threading.Lock()
        self.replace(settings)

    @staticmethod
    def validate(obj) -> dict:
        if not isinstance(obj, dict):
            raise ApiError(400, "fault settings must be a JSON object")
        unknown = sorted(set(obj) - set(FAULT_DEFAULTS))
        if unknown:
            raise ApiError(400, "unknown fault setting(s): %s" % ", ".join(unknown), param=unknown[0])
        out = dict(FAULT_DEFAULTS)
        for key, val in obj.items():
            if key == "fail_always_status" and val is None:
                out[key] = None
                continue
            if isinstance(val, bool) or not isinstance(val, (int, float)) or val != val or val < 0:
                raise ApiError(400, "%s must be a non-negative number" % key, param=key)
            if not float(val).is_integer():
                raise ApiError(400, "%s must be an integer" % key, param=key)
            out[key] = int(val)
            if key in ("fail_status", "fail_always_status") and not 400 <= out[key] <= 599:
                raise ApiError(400, "%s must be an HTTP error status (400-599)" % key, param=key)
        return out

    def replace(self, settings: dict):
        with self._lock:
            self.settings = dict(settings)
            self.remaining = {k: self.settings[k] for k in FAULT_ORDER}
            self.served = {k: 0 for k in FAULT_ORDER}

    def take(self):
        """Return (latency seconds, fault name or None, settings snapshot)."""
        with self._lock:
            s = self.settings
            if s["fail_always_status"] is not None:
                return s["latency_ms"] / 1000.0, "fail_always", dict(s)
            for k in FAULT_ORDER:
                if self.remaining[k] > 0:
                    self.remaining[k] -= 1
                    self.served[k] += 1
                    return s["latency_ms"] / 1000.0, k, dict(s)
            return s["latency_ms"] / 1000.0, None, dict(s)

    def snapshot(self) -> dict:
        with self._lock:
            return {"settings": dict(self.settings), "remaining": dict(self.remaining), "served": dict(self.served)}


class Stats:
    """Counters of the audio routes, as /admin/stats reports them."""

    def __init__(self, routes):
        self._lock = threading.Lock()
        self._routes = tuple(routes)
        self.reset()

    def reset(self):
        with self._lock:
            self.requests = {p: 0 for p in self._routes}
            self.responses = {}
            self.dropped = 0
            self.in_flight_now = getattr(self, "in_flight_now", 0)
            self.max_in_flight = self.in_flight_now
            self.bytes_received = 0
            self.first_request_at = None
            self.last_request_at = None
            self.carried = []

    def begin(self, path):
        with self._lock:
            now = time.time()
            if self.first_request_at is None:
                self.first_request_at = now
            self.last_request_at = now
            self.requests[path] = self.requests.get(path, 0) + 1
            self.in_flight_now += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight_now)
            return now

    def carry(self, path, arrived, digest):
        """Notes what an audio request carried (the SHA-256 of its audio, or of its text), for GET /admin/requests:
        a trial tells by it which chunk or piece was sent, and how often. The newest 100,000 are kept."""
        with self._lock:
            self.carried.append({"route": path, "at": arrived, "sha256": digest})
            del self.carried[:-100_000]

    def carried_snapshot(self) -> list:
        with self._lock:
            return list(self.carried)

    def received(self, n):
        with self._lock:
            self.bytes_received += n

    def end(self, status):
        with self._lock:
            self.in_flight_now = max(0, self.in_flight_now - 1)
            if status is None:
                self.dropped += 1
            else:
                key = str(status)
                self.responses[key] = self.responses.get(key, 0) + 1

    def snapshot(self) -> dict:
        with self._lock:
            return {
                "requests": dict(self.requests),
                "responses": dict(self.responses),
                "dropped": self.dropped,
                "in_flight": self.in_flight_now,
                "max_in_flight": self.max_in_flight,
                "first_request_at": self.first_request_at,
                "last_request_at": self.last_request_at,
                "bytes_received": self.bytes_received,
            }
