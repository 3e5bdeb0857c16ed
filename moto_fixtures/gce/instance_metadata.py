"""setLabels, setTags, setMetadata on instances: each guarded by the fingerprint of what it replaces.

A missing fingerprint is a 400, a stale one a 412 (PreconditionFailed in the
client). The change lands when the operation is DONE; if another change got
there first, the operation fails with CONDITION_NOT_MET.
"""

from __future__ import annotations

from collections.abc import Callable

from .call import Call
from .errors import OperationError, resource_not_found
from .fingerprints import fingerprint, require_current
from .instances import instance_path
from .operations import begin
from .validation import labels, metadata_items, network_tags, only_fields


def _fingerprinted_change(
    call: Call,
    operation_type: str,
    what: str,
    given_fingerprint: object,
    field_name: str,
    current_fingerprint: Callable[[dict], str],
    apply: Callable[[dict], None],
) -> dict:
    world = call.world
    path = instance_path(call)
    instance = world.changeable(path)
    expected = current_fingerprint(instance)
    require_current(given_fingerprint, expected, field_name, what)

    def effect() -> OperationError | None:
        target = world.find(path)
        if target is None:
            return resource_not_found(path)
        if current_fingerprint(target) != expected:
            return OperationError(
                "CONDITION_NOT_MET", f"The {what} of '{path}' changed since it was read.", 412
            )
        apply(target)
        return None

    return begin(
        call,
        operation_type=operation_type,
        scope=f"projects/{call.project}/zones/{call.params['zone']}",
        target=path,
        target_id=instance["id"],
        effect=effect,
    )


def set_labels(call: Call) -> dict:
    body = call.resource()
    only_fields(body, {"labels", "labelFingerprint"}, "resource")
    new_labels = labels(body.get("labels"), "resource.labels")

    def apply(instance: dict) -> None:
        instance.pop("labels", None)
        if new_labels:
            instance["labels"] = new_labels
        instance["labelFingerprint"] = fingerprint(new_labels)

    return _fingerprinted_change(
        call, "setLabels", "labels", body.get("labelFingerprint"), "resource.labelFingerprint",
        lambda instance: instance["labelFingerprint"], apply,
    )  # fmt: skip


def set_tags(call: Call) -> dict:
    body = call.resource()
    only_fields(body, {"items", "fingerprint"}, "resource")
    items = network_tags(body.get("items", []), "resource.items")

    def apply(instance: dict) -> None:
        instance["tags"] = {**({"items": items} if items else {}), "fingerprint": fingerprint(items)}

    return _fingerprinted_change(
        call, "setTags", "tags", body.get("fingerprint"), "resource.fingerprint",
        lambda instance: instance["tags"]["fingerprint"], apply,
    )  # fmt: skip


def set_metadata(call: Call) -> dict:
    body = call.resource()
    only_fields(body, {"items", "fingerprint", "kind"}, "resource")
    items = metadata_items(body.get("items", []), "resource.items")

    def apply(instance: dict) -> None:
        instance["metadata"] = {
            "kind": "compute#metadata",
            "fingerprint": fingerprint(items),
            **({"items": items} if items else {}),
        }

    return _fingerprinted_change(
        call, "setMetadata", "metadata", body.get("fingerprint"), "resource.fingerprint",
        lambda instance: instance["metadata"]["fingerprint"], apply,
    )  # fmt: skip
