#!/usr/bin/env bash
# Set-up for the `family` test tier: the guest agent, the libvirt daemon (started later by the tests,
# without systemd), and QEMU 10.0 from Debian 13 in a debootstrapped chroot (the qemu tier runs again
# against it). Each step skips what is there; the time of each step is printed (CI budget, docs/connections.md).
#   QMP_SKIP_QEMU10=1   skip the chroot (about 364 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "=== setup-family: $* ($(( $(date +%s) - start )) s)"; }
export DEBIAN_FRONTEND=noninteractive
sudo=()
if [[ $(id -u) -ne 0 ]]; then sudo=(sudo -n); fi
apt_get() { "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 "$@" </dev/null; }

step "Debian packages for the family tier"
missing=()
need() { local pkg=$1; shift; if ! "$@" >/dev/null 2>&1; then missing+=("$pkg"); fi; }
need qemu-guest-agent test -x /usr/sbin/qemu-ga
need libvirt-daemon test -x /usr/sbin/libvirtd
need libvirt-daemon-driver-qemu test -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so
need libvirt-clients command -v virsh
need debootstrap command -v debootstrap
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  apt_get update -q
  # Not libvirt-daemon-system: it pulls systemd and iptables. The tests start libvirtd themselves.
  apt_get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "all present"
fi

step "libvirt without systemd"
# The QEMU driver looks its system user up before it reads qemu.conf; libvirtd logs to /var/log/libvirt.
"${sudo[@]}" mkdir -p /var/log/libvirt
getent group libvirt-qemu >/dev/null || "${sudo[@]}" groupadd -r libvirt-qemu
getent passwd libvirt-qemu >/dev/null || "${sudo[@]}" useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
conf=/etc/libvirt/qemu.conf
if ! grep -q '^# qmp-notebook family tier' "$conf" 2>/dev/null; then
  printf '%s\n' '# qmp-notebook family tier' 'user = "root"' 'group = "root"' 'security_driver = "none"' \
    | "${sudo[@]}" tee -a "$conf" >/dev/null
fi
echo "ok"

step "QEMU 10.0 (Debian 13) in a chroot"
chroot_dir=${QMP_QEMU10_CHROOT:-$HOME/.cache/qmp-notebook/qemu-10.0-trixie}
if [[ "${QMP_SKIP_QEMU10:-}" == "1" ]]; then
  echo "skipped (QMP_SKIP_QEMU10=1)"
elif [[ -x "$chroot_dir/usr/bin/qemu-system-x86_64" ]]; then
  echo "present: $chroot_dir"
else
  # The mirror this machine's own apt uses (deb822 or one-line sources).
  mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1 || true)
  [[ -n "$mirror" ]] || mirror=$(awk '$1=="deb" && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n "$mirror" ]] || mirror=http://deb.debian.org/debian
  tmp="$chroot_dir.partial"
  "${sudo[@]}" rm -rf "$tmp"
  mkdir -p "$(dirname "$chroot_dir")"
  "${sudo[@]}" debootstrap --variant=minbase --include=qemu-system-x86 trixie "$tmp" "$mirror"
  "${sudo[@]}" rm -rf "$tmp/var/cache/apt/archives/"*.deb
  "${sudo[@]}" mv "$tmp" "$chroot_dir"
fi
if [[ -x "$chroot_dir/usr/bin/qemu-system-x86_64" ]]; then
  # Inside the chroot, "$chroot_dir" is a link to "/": a socket path under "$chroot_dir/tmp" then names the
  # same file inside and outside, so a test (or the product's sandbox) passes it to QEMU unchanged.
  "${sudo[@]}" mkdir -p "$chroot_dir$(dirname "$chroot_dir")"
  [[ -L "$chroot_dir$chroot_dir" ]] || "${sudo[@]}" ln -s / "$chroot_dir$chroot_dir"
  "${sudo[@]}" chmod 1777 "$chroot_dir/tmp"
  # A binary the product can be pointed at (qmp.sandbox.qemuPath, the CLI's --qemu, QMP_TEST_QEMU).
  wrapper="$chroot_dir.bin/qemu-system-x86_64"
  mkdir -p "$(dirname "$wrapper")"
  printf '#!/bin/sh\n# QEMU 10.0 of the Debian 13 chroot; written by scripts/setup-family.sh\nexec /usr/sbin/chroot %q /usr/bin/qemu-system-x86_64 "$@"\n' "$chroot_dir" > "$wrapper"
  chmod 755 "$wrapper"
  "$wrapper" --version | head -n1
  echo "QMP_TEST_QEMU=$wrapper TMPDIR=$chroot_dir/tmp selects it for the qemu tier"
fi

step "setup-family done"
