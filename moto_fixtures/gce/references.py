"""Resource paths and the URLs the API writes and accepts for them.

Inside the server every resource is named by its path relative to the API
root, e.g. ``projects/p/zones/us-central1-a/instances/vm-1``. Responses carry
full URLs on www.googleapis.com exactly as the real API does (the client
library never dials them). Requests may refer to a resource by full URL, by
``projects/...`` path, or by a path relative to the project
(``global/networks/n``, ``zones/z/machineTypes/m``).
"""

from __future__ import annotations

import re

from .errors import invalid

API_ROOT = "https://www.googleapis.com/compute/v1/"

_URL_PREFIX = re.compile(r"^https?://[^/]+/compute/(?:v1|beta|alpha)/")


def url(path: str) -> str:
    return API_ROOT + path


def path_of(reference: str, project: str) -> str | None:
    """The ``projects/...`` path a reference names, or None when it is not a resource reference."""
    path = _URL_PREFIX.sub("", reference, count=1)
    if path.startswith("projects/"):
        return path
    if path.startswith(("global/", "regions/", "zones/")):
        return f"projects/{project}/{path}"
    return None


def path_from_url(link: str) -> str:
    """The path of a URL this server wrote (a selfLink, a network link)."""
    return _URL_PREFIX.sub("", link, count=1)


def reference_path(field_name: str, reference: object, project: str, pattern: str) -> str:
    """Resolve `reference` and check it has the shape `pattern` (a regex on the path); 400 otherwise."""
    path = path_of(reference, project) if isinstance(reference, str) else None
    if path is None or not re.fullmatch(pattern, path):
        raise invalid(field_name, reference, "The URL is malformed or names the wrong kind of resource.")
    return path


def name_of(path: str) -> str:
    return path.rsplit("/", 1)[1]


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0]


NETWORK_PATH = r"projects/[^/]+/global/networks/[^/]+"
SUBNETWORK_PATH = r"projects/[^/]+/regions/[^/]+/subnetworks/[^/]+"
INSTANCE_TEMPLATE_PATH = r"projects/[^/]+/global/instanceTemplates/[^/]+"
