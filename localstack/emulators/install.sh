#!/usr/bin/env bash
# install.sh installs the local AWS emulators that shared/local/emulators starts:
#
#   - fauxqs (SQS), from package.json/package-lock.json with `npm ci`;
#   - DynamoDB Local, from the npm tarball pinned in tools.lock, unpacked
#     to .cache/dynamodb-local/;
#   - a Java runtime (openjdk-17-jre-headless, via apt-get) if `java` is missing.
#
# It is idempotent and does nothing when everything is already installed.
# Run it from anywhere: bash localstack/emulators/install.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="$here/.cache"

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

ensure_java() {
	command -v java >/dev/null 2>&1 && return
	log "java not found; installing openjdk-17-jre-headless with apt-get"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openjdk-17-jre-headless
	command -v java >/dev/null 2>&1 || die "java still not on PATH after installing openjdk-17-jre-headless"
}

ensure_node() {
	command -v node >/dev/null 2>&1 || die "node (>= 20) is required but not on PATH"
	command -v npm >/dev/null 2>&1 || die "npm is required but not on PATH"
	local major
	major="$(node -p 'process.versions.node.split(".")[0]')"
	[ "$major" -ge 20 ] || die "node >= 20 is required, found $(node --version)"
}

# ensure_node_modules runs `npm ci` unless node_modules was installed from the
# current package.json and package-lock.json.
ensure_node_modules() {
	local stamp="$here/node_modules/.agentq-install-stamp" want
	want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
	if [ -f "$here/node_modules/fauxqs/package.json" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		return
	fi
	log "npm ci in $here"
	# --loglevel=error hides fauxqs's transitive cookie@2 engines warning
	# (it asks for node >= 22 but works on node 20).
	(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	printf '%s\n' "$want" >"$stamp"
}

# sri_sha512 prints the npm-style integrity string (sha512-BASE64) of a file.
sri_sha512() {
	node -e 'const c = require("node:crypto"), fs = require("node:fs");
process.stdout.write("sha512-" + c.createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"));' "$1"
}

# ensure_dynamodb_local fetches the pinned amplify-dynamodb-simulator tarball
# with `npm pack` (which skips its heavy npm dependencies), checks it against
# tools.lock, and unpacks only package/emulator/ to .cache/dynamodb-local/.
ensure_dynamodb_local() {
	local name version integrity
	read -r name version integrity < <(awk '$1 == "amplify-dynamodb-simulator" { print $1, $2, $3 }' "$here/tools.lock") ||
		die "amplify-dynamodb-simulator is not pinned in $here/tools.lock"
	[ -n "${integrity:-}" ] || die "tools.lock: no integrity for $name"

	local dest="$cache/dynamodb-local" want="$name@$version $integrity"
	if [ -f "$dest/DynamoDBLocal.jar" ] && [ -f "$dest/.installed" ] && [ "$(cat "$dest/.installed")" = "$want" ]; then
		return
	fi

	log "fetching DynamoDB Local from $name@$version"
	mkdir -p "$cache"
	tmp="$(mktemp -d "$cache/tmp.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	(cd "$tmp" && npm pack "$name@$version" --ignore-scripts --silent >/dev/null)
	local tgz=("$tmp"/*.tgz)
	[ -f "${tgz[0]}" ] || die "npm pack $name@$version produced no tarball"

	local got
	got="$(sri_sha512 "${tgz[0]}")"
	[ "$got" = "$integrity" ] || die "integrity mismatch for $name@$version: got $got, want $integrity (tools.lock)"

	tar -xzf "${tgz[0]}" -C "$tmp" package/emulator
	[ -f "$tmp/package/emulator/DynamoDBLocal.jar" ] || die "$name@$version has no package/emulator/DynamoDBLocal.jar"
	printf '%s\n' "$want" >"$tmp/package/emulator/.installed"
	rm -rf "$dest"
	mv "$tmp/package/emulator" "$dest"
	rm -rf "$tmp"
	trap - EXIT
}

ensure_java
ensure_node
ensure_node_modules
ensure_dynamodb_local
log "emulators ready in $here"
