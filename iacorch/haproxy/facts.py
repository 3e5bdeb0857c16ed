"""What a load balancer host has: is HAProxy installed (which version), which config is
live (its SHA-256), is the service active. One command, one parser, so a caller can batch
it into the same round trip as its other facts; ``changes`` says what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass

from iacorch.command import Command
from iacorch.errors import HostError
from iacorch.haproxy.config import CONFIG_PATH
from iacorch.haproxy.install import PACKAGES
from iacorch.haproxy.render import RenderedConfig

# Always exits 0: every fact is a key=value line, empty when absent.
_PROGRAM = (
    'config=$1; shift; for package in "$@"; do '
    'echo "$package=$(dpkg-query -W -f=\'${db:Status-Abbrev}${Version}\' "$package" 2>/dev/null)"; done; '
    'echo "config_sha256=$([ -f "$config" ] && sha256sum < "$config" | cut -d" " -f1)"; '
    'echo "active=$(systemctl is-active haproxy 2>/dev/null)"; exit 0'
)


@dataclass(frozen=True)
class HaproxyChanges:
    """What a host needs; each flag comes with the reason (for people, not for decisions)."""

    install: bool
    deploy: bool  # upload the config, validate, install, reload (or start)
    reasons: tuple[str, ...]

    @property
    def none(self) -> bool:
        return not (self.install or self.deploy)


@dataclass(frozen=True)
class HaproxyFacts:
    installed: bool  # haproxy and socat both installed
    version: str | None  # haproxy's package version
    config_digest: str | None  # SHA-256 of the live haproxy.cfg, None when there is none
    active: bool
    missing: tuple[str, ...] = ()  # packages not installed

    def changes(self, desired: RenderedConfig) -> HaproxyChanges:
        reasons = []
        if not self.installed:
            reasons.append(f"install {' '.join(self.missing)} (apt)")
        if self.config_digest != desired.digest:
            reasons.append("write haproxy.cfg (none yet)" if self.config_digest is None else
                           f"replace haproxy.cfg ({self.config_digest[:12]} -> {desired.digest[:12]}) and reload")
        elif not self.active:
            reasons.append("start haproxy (installed config is current, service is not active)")
        if not reasons:
            reasons.append(f"haproxy {self.version} runs the current config ({desired.digest[:12]})")
        deploy = self.config_digest != desired.digest or not self.active
        return HaproxyChanges(install=not self.installed, deploy=deploy, reasons=tuple(reasons))


def facts_command(config_path: str = CONFIG_PATH) -> Command:
    """The facts' command; ``parse_facts`` reads its stdout."""
    return Command.of("sh", "-c", _PROGRAM, "haproxy-facts", config_path, *PACKAGES)


def parse_facts(stdout: str, host: str = "host") -> HaproxyFacts:
    values = {}
    for line in stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    if not {*PACKAGES, "config_sha256", "active"} <= values.keys():
        raise HostError(f"unexpected output from the haproxy facts command: {stdout[:200]!r}", where=host)
    missing = tuple(package for package in PACKAGES if not values[package].startswith("ii"))
    haproxy = values["haproxy"]  # "ii 2.6.12-1+deb12u4": status abbreviation, then version
    return HaproxyFacts(
        installed=not missing,
        version=(haproxy[3:].strip() or None) if haproxy.startswith("ii") else None,
        config_digest=values["config_sha256"] or None,
        active=values["active"] == "active",
        missing=missing)
