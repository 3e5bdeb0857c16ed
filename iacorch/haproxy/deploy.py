"""Putting a rendered config on a host: upload, validate, install, reload hitlessly. One round trip.

The config travels as stdin (no temp file on this machine, nothing on a command line)
into ``haproxy.cfg.iacorch-new`` next to the live file, and then:

1. ``haproxy -c -f`` checks it on the host. A rejected config stops here: the staged file
   is removed, the live one is untouched and keeps serving, and ``HaproxyConfigRejected``
   carries HAProxy's [ALERT] lines mapped back to the rendered lines.
2. If the live file already has these bytes and HAProxy runs, nothing happens.
3. Otherwise the running servers' state (``show servers state``) is dumped to the
   server-state file, keeping only servers whose backend, name, address and port stay
   the same (HAProxy would otherwise apply a remembered address over the config's: seen
   with 2.6), the old file is kept as ``haproxy.cfg.previous``, the new one is moved in
   and ``systemctl reload haproxy`` swaps processes without dropping connections.
   The step ends when the admin socket answers from the new process.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Literal

from iacorch.command import Command, CommandFailed, CommandResult, Script, Secret, write_file
from iacorch.haproxy.alerts import ConfigMessage, HaproxyConfigRejected, parse_check_output
from iacorch.haproxy.config import ADMIN_SOCKET, CONFIG_PATH, STATE_FILE
from iacorch.haproxy.render import RenderedConfig

Action = Literal["unchanged", "reloaded", "started"]

_RECEIVE = 'umask 022 && cat > "$1" <&3'

# $1 staged file, $2 live file, $3 server-state file, $4 admin socket, $5 tenths of a second to wait
# for the new process to answer after a reload
_ACTIVATE = r'''
new=$1 target=$2 state=$3 sock=$4
ask() { printf '%s\n' "$1" | socat -t 5 stdio "unix-connect:$sock" 2>/dev/null; }
worker() { ask "show info" | sed -n 's/^Pid: //p'; }
if systemctl is-active --quiet haproxy; then active=1; else active=""; fi
if [ -n "$active" ] && cmp -s "$new" "$target"; then rm -f -- "$new"; echo unchanged; exit 0; fi
rm -f -- "$state.dump"
if [ -n "$active" ]; then old=$(worker); ask "show servers state" > "$state.dump"
elif [ -s "$state" ]; then old=""; cp -- "$state" "$state.dump"; fi
if [ -s "$state.dump" ]; then
  awk 'FNR == NR {
         if ($1 == "backend") backend = $2
         else if ($1 == "server") { n = split($3, part, ":"); port = part[n]
                                     keep[backend " " $2 " " substr($3, 1, length($3) - length(port) - 1) " " port] = 1 }
         next }
       FNR <= 2 || (($2 " " $4 " " $5 " " $19) in keep)' "$new" "$state.dump" > "$state.new" \
    && mv -f -- "$state.new" "$state" || exit 1
else
  echo 1 > "$state" || exit 1
fi
rm -f -- "$state.dump"
if [ -e "$target" ]; then cp -p -- "$target" "$target.previous" || exit 1; fi
mv -f -- "$new" "$target" || exit 1
if [ -z "$active" ]; then
  systemctl enable --quiet haproxy && systemctl restart haproxy || exit 1
  echo started; exit 0
fi
systemctl reload haproxy || exit 1
i=0
while [ "$i" -lt "$5" ]; do
  pid=$(worker)
  if [ -n "$pid" ] && [ "$pid" != "$old" ]; then echo reloaded; exit 0; fi
  sleep 0.1; i=$((i + 1))
done
echo "haproxy was reloaded but no new process answered on $sock within $(($5 / 10))s; see journalctl -u haproxy" >&2
exit 1
'''


@dataclass(frozen=True)
class DeployOutcome:
    action: Action
    digest: str  # of the config now live
    warnings: tuple[ConfigMessage, ...] = ()


@dataclass(frozen=True)
class ConfigDeployment:
    """The deployment of one rendered config: ``command()`` to run, ``parse()`` for its result."""

    config: RenderedConfig
    target: str = CONFIG_PATH
    state_file: str = STATE_FILE
    admin_socket: str = ADMIN_SOCKET
    reload_wait: float = 10.0  # seconds for the new process to answer on the admin socket
    script: Script = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        staged = self.staged_path
        object.__setattr__(self, "script", Script.of(
            Command.of("sh", "-c", _RECEIVE, "receive-config", staged),
            Command.of("haproxy", "-c", "-f", staged),
            Command.of("sh", "-c", _ACTIVATE, "activate-config", staged, self.target, self.state_file,
                       self.admin_socket, str(max(1, round(self.reload_wait * 10)))),
        ))

    @property
    def staged_path(self) -> str:
        return f"{self.target}.iacorch-new"

    def command(self) -> Command:
        """One round trip: the script's steps read the config from stdin (kept on fd 3), and
        the staged file is removed however the script ends."""
        cleanup = shlex.join(["rm", "-f", "--", self.staged_path])
        program = f"exec 3<&0\ntrap {shlex.quote(cleanup)} EXIT\n" + self.script.render()
        return Command(("sh", "-c", program), self.config.data)

    def parse(self, result: CommandResult) -> DeployOutcome:
        """The outcome, or ``HaproxyConfigRejected`` / ``CommandFailed`` naming the host."""
        steps = self.script.parse(result.stdout.encode(), result.stderr.encode(), result.exit_status)
        receive, validate, activate = steps.steps
        output = validate.stdout + validate.stderr
        if validate.exit_status == 1:  # haproxy -c: the config is invalid (127 would be: no haproxy)
            raise HaproxyConfigRejected(result.host, self.target, parse_check_output(output, self.config),
                                        output.replace(self.staged_path, "new haproxy.cfg"))
        activating = f"install {self.target} and reload haproxy (the old file is kept as {self.target}.previous)"
        for step, what in ((receive, f"write the new config to {self.staged_path}"),
                           (validate, f"haproxy -c -f {self.staged_path}"), (activate, activating)):
            if not step.ok:
                raise CommandFailed(result.host, what, step.exit_status, step.stdout, step.stderr)
        if result.exit_status != 0:
            raise CommandFailed(result.host, "deploy haproxy.cfg", result.exit_status, steps.leftover_stdout,
                                steps.leftover_stderr)
        # warnings tied to a line of the config; others are about the state file HAProxy reads too
        # ("Server web/web-1 remains in forced drain mode"), which is what it is for
        messages = parse_check_output(output, self.config)
        warnings = tuple(m for m in messages if m.level == "WARNING" and m.line is not None)
        return DeployOutcome(activate.stdout.strip().splitlines()[-1], self.config.digest, warnings)


def deploy_config(ssh, address, config: RenderedConfig, **options) -> DeployOutcome:
    """Validate ``config`` on the host, install it and reload HAProxy if it differs (one round trip).

    ``ssh`` is an ``SshPool`` (anything with its ``run``); ``options`` may override ``target``,
    ``state_file``, ``admin_socket`` and ``reload_wait``.
    """
    deployment = ConfigDeployment(config, **options)
    return deployment.parse(ssh.run(address, deployment.command(), check=False, timeout=120))


def upload_certificate(pem: Secret, path: str) -> Command:
    """Store a PEM (certificate and private key) for ``bind ... ssl crt`` as a 0600 file, sent as stdin."""
    return write_file(path, pem, 0o600)
