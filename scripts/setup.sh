#!/usr/bin/env bash
# Set-up for a fresh Debian machine: everything the product and every test tier need.
# Used by the README's two commands and by .ci/run; safe to run again (each step skips what is there).
# Installs the Debian packages that are missing, the npm dependencies, the pinned code-server for the
# extension-host tier (cached in ~/.cache/qmp-notebook, reused when the machine keeps it).
set -euo pipefail

cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo; echo "=== setup: $* ($(( $(date +%s) - start )) s)"; }

export DEBIAN_FRONTEND=noninteractive

# Debian package per command or file it provides; only the missing ones are installed.
missing=()
need() { # need PACKAGE TEST...
  local pkg=$1; shift
  if ! "$@" >/dev/null 2>&1; then missing+=("$pkg"); fi
}
need qemu-system-x86 command -v qemu-system-x86_64
need chromium test -x /usr/bin/chromium
need fonts-liberation test -d /usr/share/fonts/truetype/liberation
need libkrb5-dev test -e /usr/include/krb5.h
need build-essential bash -c 'command -v make && command -v g++'
need python3 command -v python3
need man-db command -v man
need imagemagick command -v convert
# Real LSP clients for the lsp tier: Neovim's built-in client and Emacs with eglot (Debian 12 packages it).
need neovim command -v nvim
need emacs-nox command -v emacs
need elpa-eglot dpkg -s elpa-eglot
# The CI image normally brings Node 20+; Debian's own is the fallback.
need nodejs command -v node
need npm command -v npm

step "Debian packages"
if ((${#missing[@]})); then
  sudo=()
  if [[ $(id -u) -ne 0 ]]; then sudo=(sudo -n); fi
  echo "installing: ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
else
  echo "all present"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 18)); then echo ".ci/run: Node $(node --version) is too old; use Node 20 or newer" >&2; exit 1; fi
echo "node $(node --version), npm $(npm --version)"

step "npm ci"
# A fresh clone (and CI) always installs; a developer's tree only when the lockfile changed since.
if [[ "${CI:-}" == "true" || ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund </dev/null
else
  echo "node_modules is up to date"
fi

step "code-server for the extension-host tier"
bash scripts/install-vscode-test.sh </dev/null

step "the QMP family: guest agent, libvirt, QEMU 10.0 chroot"
bash scripts/setup-family.sh </dev/null

step "set-up done"
