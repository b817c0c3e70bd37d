#!/usr/bin/env bash
# install.sh installs the JavaScript A2A SDK (@a2a-js/sdk) and express, pinned in package.json and
# package-lock.json, into node_modules/ with `npm ci`, for the test agent agent.mjs.
#
# Idempotent: nothing to do when node_modules was installed from the current lock file.
# `make tools` runs it; the dispatch tests run it too when node is on PATH, so a plain `go test`
# works on a machine with Node.js and npm. Run it from anywhere.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fail() {
	printf 'a2a-js/install.sh: %s\n' "$*" >&2
	exit 1
}

command -v npm >/dev/null 2>&1 || fail "npm is required but not on PATH"
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] || fail "node >= 20 is required, found $(node --version)"

lock_sum="$(sha256sum "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -d' ' -f1)"
mark="$dir/node_modules/.installed-from"
if [ -f "$mark" ] && [ "$(cat "$mark")" = "$lock_sum" ]; then
	exit 0
fi
# No install scripts: the SDK and express need none.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
printf '%s\n' "$lock_sum" >"$mark"
