"""How iacorch marks what a stack owns on Compute Engine, and how it finds it again. Pure.

AWS tags every resource with ``iacorch:stack`` and ``iacorch:address``. GCE
cannot do that uniformly: label keys and values allow only ``[a-z0-9_-]`` (no
``:``, no ``.`` or ``[]``, so an address such as ``group.app[0]`` cannot be a
label value), and networks, subnetworks, firewalls and instance templates
carry no labels at all. What every one of them does carry is a free-text
``description``, set when it is created. So:

- **Every resource** gets the description ``iacorch stack=STACK address=ADDRESS``,
  optionally followed by `` | `` and a human note (a firewall rule's
  description). That is the ownership mark and where the address is read back
  from. Observation lists each type with the server-side filter
  ``description eq "iacorch stack=STACK address=.*"`` (a regular expression the
  API matches against the whole field), so nothing is filtered client-side.
- **Instances** also carry labels, which is what GCE users filter and bill by:
  ``iacorch-stack``, ``iacorch-group``, ``iacorch-template`` (the stack's
  template name), ``iacorch-template-version`` (a digest of the template) and
  ``iacorch-source-template`` (the GCE name of the template it was made from).
  Instances are listed across zones with ``labels.iacorch-stack = STACK``; the
  address still comes from the description.
- **Names** are prefixed with the stack (``web-app-0-1a2b3c``), which keeps two
  stacks in one project apart; they are not the ownership mark (a prefix such
  as ``web-`` would also match stack ``web-2``). Names of things that are
  replaced create-before-destroy carry a digest of their content, so the new
  one can exist beside the old.

A resource with our description and nothing else is ours; anything without it
is never observed, so never changed or deleted.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

PREFIX = "iacorch"
NOTE_SEPARATOR = " | "
MAX_NAME = 63  # GCE names: [a-z]([-a-z0-9]{0,61}[a-z0-9])?

LABEL_STACK = "iacorch-stack"
LABEL_GROUP = "iacorch-group"
LABEL_TEMPLATE = "iacorch-template"
LABEL_TEMPLATE_VERSION = "iacorch-template-version"
LABEL_SOURCE_TEMPLATE = "iacorch-source-template"

_DESCRIPTION = re.compile(rf"^{PREFIX} stack=(?P<stack>[a-z][a-z0-9-]*) address=(?P<address>\S+)"
                          rf"(?:{re.escape(NOTE_SEPARATOR)}(?P<note>.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Owner:
    stack: str
    address: str
    note: str | None = None


def description(stack: str, address: str, note: str | None = None) -> str:
    """The description that marks a resource as ``address`` of ``stack``."""
    text = f"{PREFIX} stack={stack} address={address}"
    if note:
        text += NOTE_SEPARATOR + " ".join(note.split())  # one line: the list filter's '.*' stops at newlines
    return text


def owner_of(text: str | None) -> Owner | None:
    """Who owns a resource with this description, or None when iacorch did not make it."""
    m = _DESCRIPTION.match(text or "")
    return Owner(m["stack"], m["address"], m["note"]) if m else None


def description_filter(stack: str) -> str:
    """The list filter for resources owned by ``stack`` (stack names hold no regex metacharacters)."""
    return f'description eq "{PREFIX} stack={stack} address=.*"'


def label_filter(stack: str) -> str:
    return f"labels.{LABEL_STACK} = {stack}"


def name(*parts: str) -> str:
    """A GCE resource name from parts; too long ones keep a prefix and end in a digest of the whole."""
    full = "-".join(p for p in parts if p)
    if len(full) <= MAX_NAME:
        return full
    tail = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[:MAX_NAME - len(tail) - 1].rstrip('-')}-{tail}"
