"""The OpenAI-shaped API error, and one shared log writer."""

from __future__ import annotations

import json
import sys
import threading

_log_lock = threading.Lock()


def log(message: str) -> None:
    with _log_lock:
        try:
            sys.stderr.write(message + "\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass


def json_bytes(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


class ApiError(Exception):
    """An error answered to the client as an OpenAI-shaped JSON body."""

    def __init__(self, status, message, type_="invalid_request_error", param=None, code=None, headers=None):
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> bytes:
        return json_bytes({"error": {"message": self.message, "type": self.type, "param": self.param,
                                     "code": self.code}})


def invalid_audio(reason: str) -> ApiError:
    return ApiError(400, "could not decode audio: %s" % reason, "invalid_request_error", "file", "invalid_audio")


def empty_audio() -> ApiError:
    return ApiError(400, "audio file is empty (no samples)", "invalid_request_error", "file", "empty_audio")


def server_error(message: str, code=None) -> ApiError:
    return ApiError(500, message, "server_error", None, code)
