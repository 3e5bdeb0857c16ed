"""The local provider's machinery: VMs as containers on the local Docker engine.

- ``base_image.ensure_base_image()``: the debootstrap Debian image (recipe in templates/vm), built once.
- ``machines.LocalMachines``: networks and VMs (create, start, stop, observe, remove) by label.
- ``ssh_keys``: per-VM host keys, client keys and our known_hosts file.
- ``cgroups.leaked_cgroup_dirs()``: what removed containers left behind, for tests.
"""

from providers.local.base_image import Recipe, ensure_base_image
from providers.local.cgroups import leaked_cgroup_dirs
from providers.local.docker_cli import DockerCli
from providers.local.machines import LABEL_ADDRESS, LABEL_KIND, LABEL_STACK, LocalMachines, VmSpec, VmState
from providers.local.ssh_keys import KeyPair, KnownHostsFile, load_or_create_client_key

__all__ = [
           "LABEL_ADDRESS",
           "LABEL_KIND",
           "LABEL_STACK",
           "DockerCli",
           "KeyPair",
           "KnownHostsFile",
           "LocalMachines",
           "Recipe",
           "VmSpec",
           "VmState",
           "ensure_base_image",
           "leaked_cgroup_dirs",
           "load_or_create_client_key",
]
