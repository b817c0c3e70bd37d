#!/usr/bin/env bash
# install.sh installs the Lambda Runtime API emulator that runtime_test.go drives: @vercel/fun,
# pinned in package.json and package-lock.json, into node_modules/ with `npm ci`.
#
# It is idempotent: it does nothing when node_modules was installed from the current package.json
# and package-lock.json. `make tools` runs it; runtime_test.go runs it too, so a plain `go test`
# works on a machine that has Node.js and npm.
# Run it from anywhere: bash test/lambdaruntime/install.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'lambdaruntime/install.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

command -v node >/dev/null 2>&1 || die "node (>= 20) is required but not on PATH"
command -v npm >/dev/null 2>&1 || die "npm is required but not on PATH"
major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || die "node >= 20 is required, found $(node --version)"

stamp="$here/node_modules/.agentq-install-stamp"
want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
if [ -f "$here/node_modules/@vercel/fun/package.json" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
log "npm ci in $here"
# --ignore-scripts: nothing here needs an install script (fun's own runtimes are plain files).
(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
printf '%s\n' "$want" >"$stamp"
log "@vercel/fun ready in $here/node_modules"
