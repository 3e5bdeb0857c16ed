"""The two ways the Compute Engine API reports a failure.

`ApiError` is an HTTP error answered at once (what the real API does for bad
input, a missing resource, a name taken, a stale fingerprint); the client
library turns it into a `google.api_core.exceptions` class.

`OperationError` is a failure found while the operation runs (quota, a
referenced machine type or image that does not exist, a resource in use); it
is reported inside the operation once it is DONE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus


class ApiError(Exception):
    """A request the API refuses synchronously, with Google's error JSON."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def body(self) -> dict:
        return {
            "error": {
                "code": self.status,
                "message": self.message,
                "errors": [{"domain": "global", "reason": self.reason, "message": self.message}],
            }
        }


def not_found(path: str) -> ApiError:
    return ApiError(404, "notFound", f"The resource '{path}' was not found")


def already_exists(path: str) -> ApiError:
    return ApiError(409, "alreadyExists", f"The resource '{path}' already exists")


def required(field_name: str) -> ApiError:
    return ApiError(400, "required", f"Required field '{field_name}' not specified")


def invalid(field_name: str, value: object, why: str) -> ApiError:
    return ApiError(400, "invalid", f"Invalid value for field '{field_name}': '{value}'. {why}")


def unsupported(field_name: str) -> ApiError:
    """A real API field this local server does not model: refused, never silently ignored."""
    return ApiError(
        400, "invalid", f"Field '{field_name}' is not supported by the local GCE server (moto_fixtures.gce)"
    )


def not_ready(path: str) -> ApiError:
    return ApiError(
        400, "resourceNotReady", f"The resource '{path}' is not ready (an operation on it is still running)"
    )


def condition_not_met(message: str) -> ApiError:
    return ApiError(412, "conditionNotMet", message)


@dataclass(frozen=True)
class OperationError:
    """A failure reported in a DONE operation's `error.errors[]`."""

    code: str
    message: str
    http_status: int
    details: tuple[dict, ...] = field(default=())

    def operation_fields(self) -> dict:
        entry: dict = {"code": self.code, "message": self.message}
        if self.details:
            entry["errorDetails"] = list(self.details)
        return {
            "error": {"errors": [entry]},
            "httpErrorStatusCode": self.http_status,
            "httpErrorMessage": HTTPStatus(self.http_status).phrase.upper(),
        }


def resource_not_found(path: str) -> OperationError:
    return OperationError("RESOURCE_NOT_FOUND", f"The resource '{path}' was not found", 404)


def resource_in_use(kind: str, path: str, user_path: str) -> OperationError:
    return OperationError(
        "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE",
        f"The {kind} resource '{path}' is already being used by '{user_path}'",
        400,
    )


def invalid_usage(message: str) -> OperationError:
    return OperationError("INVALID_USAGE", message, 400)
