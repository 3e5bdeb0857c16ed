"""Cloud adapters behind one small Provider protocol (iacorch.provider).

The only place cloud SDKs are imported. ``open_provider`` picks the adapter
a stack asks for and explains how to install a missing SDK.
"""

from __future__ import annotations

from iacorch.errors import IacorchError
from iacorch.stack.load import StackFile

_EXTRAS = {"aws": "aws", "gcp": "gcp", "local": None}


def open_provider(sf: StackFile):
    kind = sf.stack.provider_kind
    try:
        if kind == "aws":
            from providers.aws import AwsProvider
            return AwsProvider(sf)
        if kind == "gcp":
            from providers.gcp import GcpProvider
            return GcpProvider(sf)
        from providers.local import LocalProvider
        return LocalProvider(sf)
    except ImportError as exc:
        extra = _EXTRAS.get(kind)
        if extra and exc.name and exc.name.split(".")[0] in ("boto3", "botocore", "google"):
            raise IacorchError(f"the {kind} provider needs {exc.name}, which is not installed",
                               where=sf.where("provider"),
                               hint=f"pip install 'iacorch[{extra}]'") from None
        raise
