#!/bin/sh
# Runs inside the debootstrapped root (chroot) once, when the base image is built.
set -eu

# Every VM gets its own host key, copied in before its first start.
rm -f /etc/ssh/ssh_host_*

# A fresh machine-id per VM (systemd creates one on first boot when empty).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id

# Units that make no sense (or hang) in a container VM.
for unit in getty@tty1.service console-getty.service systemd-remount-fs.service \
            systemd-firstboot.service systemd-udevd.service systemd-udev-trigger.service \
            systemd-modules-load.service sys-kernel-config.mount sys-kernel-debug.mount \
            sys-kernel-tracing.mount systemd-journald-audit.socket apt-daily.timer \
            apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    systemctl mask "$unit" >/dev/null 2>&1 || true
done
systemctl enable ssh.service >/dev/null 2>&1

# Key-only root login; the key arrives per VM.
install -d -m 0700 /root/.ssh
passwd -l root >/dev/null

# Updates and security fixes next to main, as on a cloud image.
cat > /etc/apt/sources.list <<'LIST'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
LIST

apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/*.log
