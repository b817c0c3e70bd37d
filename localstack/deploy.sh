#!/usr/bin/env bash
# Deploys the agentq stack to the LocalStack that `make localstack-up` started, with cdklocal:
#   1. builds every function's bootstrap (mk/infra.mk LAMBDA_FUNCTIONS: invoke, worker, poll,
#      sweeper, authorizer, trigger, notify, deliver) for the Docker host's architecture into
#      build/lambda-localstack (compose sets LAMBDA_IGNORE_ARCHITECTURE=1, so LocalStack runs them
#      natively),
#   2. bootstraps the CDK environment in LocalStack and deploys with -c api=rest (the community
#      image has no API Gateway v2, so no HTTP API), -c restLogRole=existing (LocalStack does not
#      check the account's API Gateway log role) and -c ephemeral=true; the event archive and the
#      dashboard, which the community image does not implement, are skipped by LocalStack
#      (compose sets CFN_IGNORE_UNSUPPORTED_RESOURCE_TYPES=1), and the schedules are created but
#      never fire,
#   3. writes localstack/.state/env (API_URL, API_KEY, EVENT_BUS) for smoke.sh and prints the API URL.
# Every call goes to 127.0.0.1:4566 by address (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3): cdklocal's
# default names under localhost.localstack.cloud need public DNS, which a machine offline lacks.
#
# Environment (all optional):
#   AGENTQ_API_KEY  the API key the stack accepts (a random one is generated when unset)
#   AGENTS_FILE     agent registry, relative to the repository root (default localstack/agents.json,
#                   whose "echo" agent is the echo-agent compose service)
#   LAMBDA_GOARCH   amd64 or arm64 (default: the Docker engine's architecture)
#   AWS_REGION      default us-east-1
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

endpoint="http://127.0.0.1:4566" # compose binds LocalStack here
region="${AWS_REGION:-us-east-1}"
account="000000000000" # LocalStack's default account
state_dir="localstack/.state"
lambda_dir="build/lambda-localstack"
agents="${AGENTS_FILE:-localstack/agents.json}"
cdklocal="infra/node_modules/.bin/cdklocal"

die() {
  echo "localstack deploy: $*" >&2
  exit 1
}

[ -x "$cdklocal" ] || die "$cdklocal is missing: run make cdk-tools"
command -v node >/dev/null || die "node is required (it runs the CDK CLI)"
curl -fsS --max-time 5 "$endpoint/_localstack/health" >/dev/null ||
  die "LocalStack does not answer at $endpoint: run make localstack-up"

# 1. Binaries for the machine that runs the Lambda containers.
arch="${LAMBDA_GOARCH:-}"
if [ -z "$arch" ]; then
  machine="$(docker info --format '{{.Architecture}}' 2>/dev/null || uname -m)"
  case "$machine" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "unknown Docker architecture '$machine': set LAMBDA_GOARCH=amd64 or arm64" ;;
  esac
fi
make --no-print-directory -f mk/infra.mk build LAMBDA_GOARCH="$arch" LAMBDA_DIR="$lambda_dir"

# 2. An API key: the stack only ever sees its SHA-256.
mkdir -p "$state_dir"
chmod 700 "$state_dir"
key="${AGENTQ_API_KEY:-}"
if [ -z "$key" ]; then
  key="lsk-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
fi
if command -v sha256sum >/dev/null; then
  hash="$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)"
else
  hash="$(printf '%s' "$key" | shasum -a 256 | cut -d' ' -f1)"
fi

# 3. Bootstrap and deploy. cdklocal drops AWS_* settings it is not told to keep (so a stray
# profile can never send this deploy to real AWS); keep the region and the dummy credentials.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"
export AWS_ENVAR_ALLOWLIST="AWS_REGION,AWS_DEFAULT_REGION,AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY,AWS_S3_FORCE_PATH_STYLE"
# cdklocal honours these (and keeps every AWS_ENDPOINT_URL*); left unset it points the CLI at
# localhost.localstack.cloud and s3.localhost.localstack.cloud, which resolve only through public
# DNS. By address, S3 is addressed path-style (the bucket in the path, not the host name).
export AWS_ENDPOINT_URL="$endpoint" AWS_ENDPOINT_URL_S3="$endpoint" AWS_S3_FORCE_PATH_STYLE=true
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true

context=(
  -c api=rest
  -c restLogRole=existing
  -c ephemeral=true
  -c "lambdaDir=$root/$lambda_dir"
  -c "agentsFile=$agents"
  -c "apiKeyHashes=smoke:$hash"
  -c logLevel=debug
)
"$cdklocal" bootstrap "aws://$account/$region" --no-notices "${context[@]}"
"$cdklocal" deploy Agentq --require-approval never --no-notices "${context[@]}" \
  --outputs-file "$state_dir/outputs.json"

# The stack's ApiUrl names the real execute-api host; LocalStack serves the same stage under
# its own path-style URL.
read -r api_id api_stage event_bus < <(node -e '
  const o = require(process.argv[1]).Agentq || {};
  if (!o.ApiId || !o.ApiStage) { console.error("no ApiId/ApiStage in outputs"); process.exit(1); }
  console.log(o.ApiId + " " + o.ApiStage + " " + (o.EventBusName || ""));
' "$root/$state_dir/outputs.json")
if [ -z "${api_id:-}" ] || [ -z "${api_stage:-}" ]; then
  die "no ApiId/ApiStage in $state_dir/outputs.json"
fi
api_url="$endpoint/_aws/execute-api/$api_id/$api_stage/"

umask 077
cat >"$state_dir/env" <<ENV
# Written by localstack/deploy.sh; read by localstack/smoke.sh. Holds a LocalStack-only key.
API_URL='$api_url'
API_KEY='$key'
EVENT_BUS='${event_bus:-}'
AWS_ENDPOINT='$endpoint'
ENV

echo
echo "agentq is deployed to LocalStack"
echo "  API URL  $api_url"
echo "  API key  in $state_dir/env (export it with: . $state_dir/env)"
echo "  try      make localstack-smoke"
