"""A local Google Compute Engine v1 REST API for offline tests with the real google-cloud-compute client.

Run it by hand with ``python -m moto_fixtures.gce --port 8085`` (see `__main__`);
in tests use the fixtures in `moto_fixtures.gce.fixtures`.
"""

from .errors import ApiError, OperationError
from .server import GceServer

__all__ = ["ApiError", "GceServer", "OperationError"]
