"""Installing HAProxy on a host with apt: one round trip, idempotent, reports the version.

``socat`` comes with it: the runtime API is a unix socket, and socat is how a command
reaches it over SSH (the command on stdin, never on the command line).
"""

from __future__ import annotations

from dataclasses import dataclass

from iacorch.command import Command, Script, ScriptResult
from iacorch.errors import HostError

PACKAGES = ("haproxy", "socat")

# Installs only what is missing, so a second run is a dpkg query and nothing else.
# apt waits for another apt (unattended-upgrades) to let go of its lock instead of failing.
_INSTALL_MISSING = (
    'missing=""; for package in "$@"; do '
    'dpkg-query -W -f=\'${db:Status-Abbrev}\' "$package" 2>/dev/null | grep -q "^ii" '
    '|| missing="$missing $package"; done; '
    'if [ -z "$missing" ]; then echo "already installed: $*"; exit 0; fi; '
    'export DEBIAN_FRONTEND=noninteractive; '
    'apt-get -q -o DPkg::Lock::Timeout=120 update >/dev/null '
    '&& apt-get -q -y -o DPkg::Lock::Timeout=120 install --no-install-recommends $missing >/dev/null '
    '&& echo "installed:$missing"'
)


@dataclass(frozen=True)
class InstallOutcome:
    version: str  # the Debian package version, e.g. 2.6.12-1+deb12u4
    installed_now: bool  # False when everything was already there


def install_haproxy() -> Script:
    """Install haproxy and socat if missing, make sure the service is enabled, print the version."""
    return Script.of(
        Command.of("sh", "-c", _INSTALL_MISSING, "install-packages", *PACKAGES),
        Command.of("systemctl", "enable", "--quiet", "haproxy"),
        Command.of("dpkg-query", "-W", "-f=${Version}", "haproxy"),
    )


def parse_install(result: ScriptResult, host: str) -> InstallOutcome:
    result.check(host)
    version = result[2].stdout.strip()
    if not version:
        raise HostError("haproxy was installed but dpkg reports no version", where=host)
    return InstallOutcome(version, installed_now=result[0].stdout.startswith("installed:"))
