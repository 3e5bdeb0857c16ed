"""Compute Engine failures as one clear ProviderError each: what went wrong, which
resource, and what to do. No google.api_core exception leaves providers/gcp.

GCE reports a failure in two ways: an HTTP error answered at once (bad input,
404, 409), which the client raises as a ``google.api_core`` exception, and an
error inside an operation that finished (quota, a machine type or image that
does not exist, a resource in use). Both are explained by the same table.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import google.api_core.exceptions as api_exceptions
import google.auth.exceptions
import requests

from iacorch.errors import ProviderError

QUOTA_HINT = "raise the quota (Cloud console: IAM & Admin > Quotas) or {need_less}, then run apply again"
_NEED_LESS = {  # by quota metric: what in the stack uses it
    "CPUS": "lower the group sizes or use a smaller machine_type",
    "INSTANCES": "lower the group sizes",
    "IN_USE_ADDRESSES": "place fewer instances in public subnets (public: false gives no external IP)",
    "DISKS_TOTAL_GB": "lower the group sizes or disk_gb",
    "FIREWALLS": "use fewer security group rules",
    "SUBNETWORKS": "use fewer subnets",
    "NETWORKS": "delete unused networks in the project",
    "INSTANCE_TEMPLATES": "delete unused instance templates in the project",
}
IN_USE_HINT = "something outside this stack still uses it; remove that first, then run apply again"
RERUN_HINT = "run apply again; it continues from here"

# (what the message or field names, summary, hint): the first match explains a not-found or invalid value
_SUBJECTS = [
    (r"machineTypes?\b|machine ?type", "the machine type does not exist",
     ("check launch_templates.*.machine_type: it must exist in every zone of provider.gcp.zones "
      "(gcloud compute machine-types list)")),
    (r"/images/|sourceImage|\bimage\b", "the image does not exist",
     "check launch_templates.*.image: a path such as projects/debian-cloud/global/images/family/debian-12"),
    (r"/zones/[^/']+'?$|\bzone\b", "the zone does not exist or is not in the region",
     "check provider.gcp.zones: each zone must exist and lie in provider.gcp.region"),
    (r"/regions/[^/']+'?$", "the region does not exist", "check provider.gcp.region"),
    (r"[Mm]ust be in region|same region", "the zone is not in the stack's region",
     "check provider.gcp.zones: each zone must lie in provider.gcp.region"),
    (r"^projects/[^/]+$|'projects/[^/']+'", "the project does not exist or is not visible",
     "check provider.gcp.project, and that the Compute Engine API is enabled in it"),
    (r"[Ii][Pp]CidrRange", "the subnetwork range is refused", "check network.subnets.*.cidr"),
]
_NAMES_A_SUBJECT = {"RESOURCE_NOT_FOUND", "notFound", "INVALID_FIELD_VALUE", "invalid"}
_CODES = {
    "QUOTA_EXCEEDED": ("quota exceeded", QUOTA_HINT),
    "quotaExceeded": ("quota exceeded", QUOTA_HINT),
    "RESOURCE_IN_USE_BY_ANOTHER_RESOURCE": ("it is still in use", IN_USE_HINT),
    "resourceInUseByAnotherResource": ("it is still in use", IN_USE_HINT),
    "ZONE_RESOURCE_POOL_EXHAUSTED": ("the zone is out of capacity",
                                     "try again later, or use another zone or machine type"),
    "CONDITION_NOT_MET": ("it changed while iacorch was changing it", RERUN_HINT),
    "conditionNotMet": ("it changed while iacorch was changing it", RERUN_HINT),
    "rateLimitExceeded": ("the API is rate limiting this project", RERUN_HINT),
    "resourceNotReady": ("another operation on it is still running", RERUN_HINT),
    "alreadyExists": ("a resource with this name already exists",
                      ("it was not made by this stack (or by another stack with the same name): delete or "
                       "rename it, or give the stack another name")),
    "forbidden": ("permission denied", "the credentials need Compute Admin (roles/compute.admin) on the project"),
    "insufficientPermissions": ("permission denied",
                                "the credentials need Compute Admin (roles/compute.admin) on the project"),
    "notImplemented": ("the endpoint does not implement this call",
                       "check provider.gcp.endpoint / IACORCH_GCP_ENDPOINT"),
}
_BY_STATUS = {
    400: ("the request was refused", "check the value named in the message against the stack file"),
    401: ("not authenticated", "run: gcloud auth application-default login"),
    403: ("permission denied", "the credentials need Compute Admin (roles/compute.admin) on the project"),
    404: ("not found", "it may have been deleted outside iacorch; run plan again"),
    409: ("a resource with this name already exists", _CODES["alreadyExists"][1]),
    412: ("it changed while iacorch was changing it", RERUN_HINT),
    429: ("the API is rate limiting this project", RERUN_HINT),
}


class GceError(ProviderError):
    """A ProviderError from the Compute Engine API; ``status`` and ``reason`` let
    providers/gcp react (a 409 on create may be our own earlier attempt)."""

    def __init__(self, message: str, *, where: str | None, hint: str | None, status: int | None,
                 reason: str) -> None:
        super().__init__(message, where=where, hint=hint)
        self.status = status
        self.reason = reason


def explain(status: int | None, reason: str, message: str, where: str | None) -> GceError:
    summary, hint = _CODES.get(reason) or _BY_STATUS.get(status or 0) or (None, None)
    if reason not in _CODES and (status in (400, 404) or reason in _NAMES_A_SUBJECT):
        for pattern, subject, subject_hint in _SUBJECTS:
            if re.search(pattern, _subject_of(message)):
                summary, hint = subject, subject_hint
                break
    if summary is None:
        summary = "the API failed internally" if status and status >= 500 else "the API refused it"
        hint = RERUN_HINT if status and status >= 500 else hint
    if hint == QUOTA_HINT:
        metric = re.search(r"Quota '([A-Z_]+)'", message)
        hint = hint.format(need_less=_NEED_LESS.get(metric.group(1) if metric else "", "use less of it"))
    template = re.match(r"instance_template\.(\S+)$", where or "")
    if template and hint:  # the template at fault is known: name it
        hint = hint.replace("launch_templates.*", f"launch_templates.{template.group(1)}")
    return GceError(f"{summary}: {message}", where=where, hint=hint, status=status, reason=reason)


def _subject_of(message: str) -> str:
    """The resource path a not-found message names, else the message (so a zone in a path is not 'the zone')."""
    m = re.search(r"resource '([^']+)'", message)
    return m.group(1) if m else message


def api_error(exc: api_exceptions.GoogleAPICallError, where: str | None) -> GceError:
    errors = [e for e in (exc.errors or []) if isinstance(e, dict)]
    reason = errors[0].get("reason", "") if errors else (exc.reason or "")
    message = errors[0].get("message") if errors else None
    if not message:  # the client prefixes "GET http://...: "; keep only the API's words
        message = re.sub(r"^[A-Z]+ \S+: ", "", str(exc.message or exc))
    return explain(exc.code, reason, message, where)


def operation_error(operation: Any, where: str | None) -> GceError:
    """The error a DONE operation carries, explained."""
    first = operation.error.errors[0]
    status = operation.http_error_status_code or None
    messages = "; ".join(e.message for e in operation.error.errors if e.message)
    return explain(status, first.code, messages or first.code, where)


@contextlib.contextmanager
def translate(where: str | None, endpoint: str | None = None) -> Iterator[None]:
    """Turn client, auth and transport exceptions into one clear ProviderError naming ``where``."""
    try:
        yield
    except api_exceptions.GoogleAPICallError as exc:
        raise api_error(exc, where) from None
    except api_exceptions.RetryError as exc:
        cause = exc.cause
        if isinstance(cause, api_exceptions.GoogleAPICallError):
            raise api_error(cause, where) from None
        raise ProviderError(f"gave up retrying: {cause or exc}", where=where, hint=RERUN_HINT) from None
    except google.auth.exceptions.DefaultCredentialsError:
        raise ProviderError("no Google Cloud credentials found", where=where,
                            hint="run: gcloud auth application-default login (or set "
                                 "GOOGLE_APPLICATION_CREDENTIALS); for a local API set IACORCH_GCP_ENDPOINT"
                            ) from None
    except google.auth.exceptions.GoogleAuthError as exc:
        raise ProviderError(f"Google authentication failed: {exc}", where=where,
                            hint="run: gcloud auth application-default login") from None
    except requests.exceptions.ConnectionError:
        raise ProviderError(f"cannot reach the Compute Engine API at {endpoint or 'compute.googleapis.com'}",
                            where=where, hint="check provider.gcp.endpoint / IACORCH_GCP_ENDPOINT and the "
                                              "network") from None
    except requests.exceptions.RequestException as exc:
        raise ProviderError(f"the request to the Compute Engine API failed: {type(exc).__name__}",
                            where=where, hint=RERUN_HINT) from None
