#!/usr/bin/env bash
# Set-up for the `family` test tier: the guest agent, the libvirt daemon (started later by the tests,
# without systemd), and QEMU 10.0 from Debian 13 in a debootstrapped chroot (the qemu tier runs again
# against it). Each step skips what is there; the time of each step is printed (CI budget, docs/connections.md).
#   QMP_SKIP_QEMU10=1   skip the chroot (about 364 MB)
#   QMP_SKIP_QEMU_SOURCE=1  skip QEMU's own tools and iotests files from Debian's source package (23.5 MB download)
#   --print-mirror      print the Debian mirror apt is configured with (what debootstrap will use) and exit
set -euo pipefail
cd "$(dirname "$0")/.."

# The Debian mirror of this machine's own apt configuration, and nothing else: the first enabled `deb` source
# that is not a security archive, from the deb822 files (*.sources: `Types:`, `URIs:`, `Enabled:`) and the
# one-line lists (sources.list and *.list: `deb [options] URI suite…`) in the places apt-config names.
# QMP_APT_SOURCELIST / QMP_APT_SOURCEPARTS override those places (for the script's own test). Fails with
# a clear message when apt has no such source (no built-in fallback host).
apt_mirror() {
  local list=${QMP_APT_SOURCELIST:-} parts=${QMP_APT_SOURCEPARTS:-}
  if [[ -z "$list" || -z "$parts" ]] && command -v apt-config >/dev/null 2>&1; then
    local SOURCELIST='' SOURCEPARTS=''
    eval "$(apt-config shell SOURCELIST Dir::Etc::sourcelist/f SOURCEPARTS Dir::Etc::sourceparts/d)"
    list=${list:-$SOURCELIST}
    parts=${parts:-$SOURCEPARTS}
  fi
  list=${list:-/etc/apt/sources.list}
  parts=${parts:-/etc/apt/sources.list.d/}
  local mirror=''
  local f
  for f in "$parts"/*.sources; do
    [[ -f "$f" ]] || continue
    # One stanza per blank-line-separated paragraph; continuation lines (leading space) extend URIs.
    mirror=$(awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled !~ /^(no|false)$/) {
          n = split(uris, u, " ")
          for (i = 1; i <= n; i++) if (u[i] !~ /security/ && u[i] ~ /^[a-z+]+:/) { print u[i]; found = 1; exit }
        }
        types = ""; uris = ""; enabled = ""; last = ""
      }
      /^#/ { next }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]/ { if (last == "uris") uris = uris " " $0; next }
      {
        key = tolower($0); sub(/:.*/, "", key); val = $0; sub(/^[^:]*:[ \t]*/, "", val); last = key
        if (key == "types") types = val; else if (key == "uris") uris = val; else if (key == "enabled") enabled = tolower(val)
      }
      END { if (!found) flush() }' "$f")
    [[ -z "$mirror" ]] || break
  done
  if [[ -z "$mirror" ]]; then
    for f in "$list" "$parts"/*.list; do
      [[ -f "$f" ]] || continue
      mirror=$(awk '
        $1 == "deb" {
          i = 2
          if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
          if (i <= NF && $i !~ /security/) { print $i; exit }
        }' "$f")
      [[ -z "$mirror" ]] || break
    done
  fi
  if [[ -z "$mirror" ]]; then
    echo "setup-family: apt has no Debian 'deb' source to take a mirror from (looked in $list and $parts*.sources, $parts*.list);" >&2
    echo "setup-family: configure one for apt (e.g. /etc/apt/sources.list.d/debian.sources), or set QMP_SKIP_QEMU10=1 to skip the QEMU 10.0 chroot" >&2
    return 1
  fi
  printf '%s\n' "$mirror"
}

if [[ "${1:-}" == "--print-mirror" ]]; then
  apt_mirror
  exit $?
fi
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
need curl command -v curl
need xz-utils command -v xz
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
  # The mirror this machine's own apt uses (deb822 or one-line sources); none is an error, never a guess.
  mirror=$(apt_mirror) || exit 1
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

step "QEMU's own QMP tools and iotests files (Debian's qemu 7.2 source package)"
# For the qemu tier's round trips (test/qemu/interop*.test.ts): qemu.qmp with qmp-shell (python/qemu/qmp),
# python/qemu/utils, scripts/qmp and tests/qemu-iotests, taken from Debian 12's own source package of the QEMU
# the tier runs, through the mirror apt uses, checked against the sha256 of bookworm's Sources index. Only those
# folders are kept; nothing is downloaded at test time. Debian's python3 runs them with no pip package.
cache=${QMP_NOTEBOOK_CACHE:-$HOME/.cache/qmp-notebook}
src_dir=${QMP_QEMU_SOURCE:-$cache/qemu-7.2-source}
src_name=qemu_7.2+dfsg.orig.tar.xz
src_sha256=91aca71520040edc40b8d437aa3004dae614f58e286cf653ee8996c07af2962f
if [[ "${QMP_SKIP_QEMU_SOURCE:-}" == "1" ]]; then
  echo "skipped (QMP_SKIP_QEMU_SOURCE=1)"
elif [[ -f "$src_dir/.qmp-notebook-complete" ]]; then
  echo "present: $src_dir"
else
  mirror=$(apt_mirror) || exit 1
  mkdir -p "$cache/downloads"
  tarball="$cache/downloads/$src_name"
  if [[ ! -f "$tarball" ]] || ! echo "$src_sha256  $tarball" | sha256sum -c --quiet - >/dev/null 2>&1; then
    rm -f "$tarball" "$tarball.partial"
    curl -fsS --retry 3 --connect-timeout 30 --max-time 1200 -o "$tarball.partial" "${mirror%/}/pool/main/q/qemu/$src_name"
    if ! echo "$src_sha256  $tarball.partial" | sha256sum -c --quiet -; then
      rm -f "$tarball.partial"
      echo "setup-family: $src_name from $mirror does not have the sha256 of bookworm's Sources ($src_sha256)" >&2
      exit 1
    fi
    mv "$tarball.partial" "$tarball"
  fi
  tmp="$src_dir.partial"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  tar -xJf "$tarball" -C "$tmp" --strip-components=1 --no-same-owner \
    qemu-7.2.0/python/qemu qemu-7.2.0/scripts/qmp qemu-7.2.0/tests/qemu-iotests qemu-7.2.0/VERSION
  touch "$tmp/.qmp-notebook-complete"
  rm -rf "$src_dir"
  mv "$tmp" "$src_dir"
  rm -f "$tarball"
fi
if [[ -f "$src_dir/.qmp-notebook-complete" ]]; then
  PYTHONPATH="$src_dir/python" python3 -c 'import qemu.qmp, qemu.qmp.qmp_shell, qemu.qmp.legacy; print("qemu.qmp", qemu.qmp.__file__)'
  echo "the qemu tier's round trips read $src_dir (QMP_QEMU_SOURCE names another)"
fi

step "setup-family done"
