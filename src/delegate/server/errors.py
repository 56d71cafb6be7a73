"""The API's errors: every error answer is ``{"error": {"code", "message"}}`` with a stable
code (the codes are listed in :data:`CODES`)."""

from __future__ import annotations

from typing import Any

__all__ = ["CODES", "ApiError", "error_body"]

#: Every code the API answers with, and its HTTP status.
CODES: dict[str, int] = {
    "unauthorized": 401,
    "forbidden_origin": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "misdirected_host": 421,
    "invalid_request": 422,
    "conflict": 409,
    "run_not_active": 409,
    "run_active": 409,
    "already_succeeded": 409,
    "owned_elsewhere": 409,
    "not_resumable": 409,
    "already_answered": 409,
    "too_large": 413,
    "internal": 500,
    "store_unavailable": 503,
    "shutting_down": 503,
}


class ApiError(Exception):
    """An error answer: ``status``, a stable ``code`` and a one-line ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}
