"""boto3 clients for one stack: region and endpoint settings, retries,
request counting, and translation of SDK errors into ProviderError."""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from typing import Any, Iterator

import boto3
import botocore.exceptions
import botocore.parsers
from botocore.config import Config

from iacorch.errors import ProviderError
from iacorch.stack.infra import AwsProvider

_HINTS = {
    "UnauthorizedOperation": "the credentials lack permission for this call",
    "AuthFailure": "check AWS_PROFILE / AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    "InvalidAMIID.NotFound": "the image id does not exist in this region; check launch_templates.*.image",
    "InvalidAMIID.Malformed": "an AMI id looks like ami-0123456789abcdef0",
    "InstanceLimitExceeded": "raise the EC2 instance quota or lower the group sizes",
    "VcpuLimitExceeded": "raise the EC2 vCPU quota or use smaller instance types",
    "InvalidParameterValue": "check the value named in the message against the stack file",
    "DependencyViolation": "something outside this stack still uses it; remove that first",
    "InsufficientFreeAddressesInSubnet": "the subnet is too small for the group; use a larger CIDR",
}


class AwsSession:
    """Clients built once per stack, thread-safe for the executor's workers."""

    def __init__(self, settings: AwsProvider) -> None:
        self.settings = settings
        try:
            self._session = boto3.session.Session(profile_name=settings.profile)
        except botocore.exceptions.ProfileNotFound as exc:
            raise ProviderError(f"AWS profile not found: {exc}",
                                hint="check AWS_PROFILE or provider.aws.profile") from None
        self.region = settings.region or self._session.region_name
        if not self.region:
            raise ProviderError("no AWS region is set",
                                hint="set provider.aws.region in the stack or AWS_REGION in the environment")
        self.endpoint = settings.endpoint  # None: botocore honours AWS_ENDPOINT_URL itself
        self.config = Config(
            region_name=self.region,
            retries={"mode": os.environ.get("AWS_RETRY_MODE", "adaptive"),
                     "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", "10"))},
            connect_timeout=10, read_timeout=60,
            s3={"addressing_style": "path"},
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.calls: collections.Counter[str] = collections.Counter()

    @property
    def local_endpoint(self) -> bool:
        """True when talking to a local API (moto): waiters poll faster."""
        url = self.endpoint or os.environ.get("AWS_ENDPOINT_URL", "")
        return "127.0.0.1" in url or "localhost" in url

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                kwargs: dict[str, Any] = {"config": self.config}
                if self.endpoint:
                    kwargs["endpoint_url"] = self.endpoint
                client = self._session.client(service, **kwargs)
                client.meta.events.register("before-send", self._count)
                self._clients[service] = client
            return self._clients[service]

    def _count(self, request: Any, **_: Any) -> None:
        # one per HTTP request actually sent, retries included
        body = request.body
        if isinstance(body, str):
            body = body.encode()
        if not isinstance(body, bytes):
            body = b""  # a stream (S3 uploads): reading it here would send an empty body
        op = ""
        if b"Action=" in body:
            op = body.split(b"Action=", 1)[1].split(b"&", 1)[0].decode()
        target = request.headers.get("X-Amz-Target")
        if target:
            op = target.decode() if isinstance(target, bytes) else target
        self.calls[op or request.method] += 1

    def paginate(self, service: str, operation: str, key: str, page_size: int | None = None,
                 **params: Any) -> list[dict[str, Any]]:
        """All items of a paginated Describe; ``page_size`` asks for the API's largest pages."""
        client = self.client(service)
        out: list[dict[str, Any]] = []
        with translate(f"{service}:{operation}"):
            if client.can_paginate(operation):
                config = {"PageSize": page_size} if page_size else {}
                for page in client.get_paginator(operation).paginate(PaginationConfig=config, **params):
                    out.extend(page.get(key, []))
            else:
                out.extend(getattr(client, operation)(**params).get(key, []))
        return out

    def waiter_config(self, timeout: float) -> dict[str, int]:
        delay = 1 if self.local_endpoint else 5
        return {"Delay": delay, "MaxAttempts": max(1, int(timeout / delay))}


def error_code(exc: BaseException) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


@contextlib.contextmanager
def translate(where: str) -> Iterator[None]:
    """Turn SDK exceptions into one clear ProviderError naming ``where``."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        code = err.get("Code", "Unknown")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = err.get("Message") or str(exc)
        hint = _HINTS.get(code)
        if status and status >= 500 and not hint:
            hint = "the API failed internally; run apply again (it converges)"
        raise ProviderError(f"AWS refused {exc.operation_name}: {code}: {message}", where=where,
                            hint=hint) from None
    except botocore.exceptions.WaiterError as exc:
        raise ProviderError(f"timed out waiting: {exc.last_response.get('Error', {}).get('Message', exc)}"
                            if isinstance(exc.last_response, dict) else f"timed out waiting: {exc}",
                            where=where, hint="run apply again to continue from here") from None
    except botocore.exceptions.NoCredentialsError:
        raise ProviderError("no AWS credentials found", where=where,
                            hint="set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") from None
    except botocore.exceptions.EndpointConnectionError as exc:
        raise ProviderError(f"cannot reach the AWS endpoint {exc.kwargs.get('endpoint_url', '')}",
                            where=where, hint="check AWS_ENDPOINT_URL / provider.aws.endpoint and the network"
                            ) from None
    except botocore.parsers.ResponseParserError:
        raise ProviderError("the AWS API returned a response that is not AWS's (an error page?)", where=where,
                            hint="check the endpoint; run apply again, it continues from here") from None
    except botocore.exceptions.BotoCoreError as exc:
        raise ProviderError(f"AWS SDK error: {exc}", where=where) from None


def tags(stack: str, address: str, **extra: str) -> list[dict[str, str]]:
    pairs = {"iacorch:stack": stack, "iacorch:address": address, "Name": f"{stack} {address}", **extra}
    return [{"Key": k, "Value": v} for k, v in pairs.items()]


def tag_spec(resource_type: str, stack: str, address: str, **extra: str) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": tags(stack, address, **extra)}]


def tag_map(item: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in item.get("Tags", []) or []}
