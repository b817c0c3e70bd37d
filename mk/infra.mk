# Infrastructure: the Lambda binaries, the CDK app in infra/ (its own Go module) and LocalStack.
# Included by the root Makefile; also usable alone: `make -f mk/infra.mk synth`.
# The CDK CLI is the one pinned in infra/package-lock.json, never a global install.

GO               ?= go
NPM              ?= npm
DOCKER           ?= docker
LAMBDA_FUNCTIONS ?= invoke worker poll sweeper trigger notify deliver stream
LAMBDA_DIR       ?= build/lambda
# Lambda runs the functions on Graviton (arm64); localstack/deploy.sh builds for the Docker host's
# architecture instead, into its own directory.
LAMBDA_GOARCH    ?= arm64
# Extra context for synth, diff and deploy, e.g. CDK_CONTEXT='-c apiKeyHashes=acme:<sha256hex>'.
CDK_CONTEXT      ?=
# Extra CLI flags for deploy, e.g. CDK_FLAGS='--require-approval never' in a pipeline.
CDK_FLAGS        ?=

INFRA_DIR     := infra
CDK           := $(INFRA_DIR)/node_modules/.bin/cdk
CDK_STAMP     := $(INFRA_DIR)/node_modules/.package-lock.json
LOCALSTACK    := localstack
COMPOSE       := $(DOCKER) compose -f $(LOCALSTACK)/docker-compose.yml
# jsii prints a Node 20 end-of-life banner on every run; telemetry, notices and the CLI's daily
# version check would reach out to the network (deploy-check stays offline).
CDK_ENV       := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 CDK_DISABLE_CLI_TELEMETRY=true CDK_DISABLE_VERSION_CHECK=true
CDK_ARGS      := --no-notices -c lambdaDir=$(abspath $(LAMBDA_DIR)) $(CDK_CONTEXT)
# -trimpath and no VCS stamp: the same source gives the same bytes, so an unchanged function
# keeps its asset hash and is not redeployed. lambda.norpc drops the unused net/rpc entry point.
LAMBDA_BUILD  := CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_GOARCH) $(GO) build -trimpath -buildvcs=false -tags lambda.norpc -ldflags "-s -w"

.PHONY: build cdk-tools synth diff deploy cdk-bootstrap test-infra deploy-check smoke-aws \
        localstack-up localstack-deploy localstack-smoke localstack-down

build: ## cross-compile the Lambda bootstraps (linux/arm64) into build/lambda/<name>/bootstrap
	@for fn in $(LAMBDA_FUNCTIONS); do \
	  echo "build functions/$$fn -> $(LAMBDA_DIR)/$$fn/bootstrap (linux/$(LAMBDA_GOARCH))"; \
	  $(LAMBDA_BUILD) -o $(LAMBDA_DIR)/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

$(CDK_STAMP): $(INFRA_DIR)/package.json $(INFRA_DIR)/package-lock.json
	cd $(INFRA_DIR) && $(NPM) ci --no-audit --no-fund
	@touch $@

cdk-tools: $(CDK_STAMP) ## install the pinned CDK CLI and cdklocal into infra/node_modules

synth: build $(CDK_STAMP) ## build, then write the CloudFormation template to cdk.out/ (offline: no AWS account or credentials)
	$(CDK_ENV) AWS_EC2_METADATA_DISABLED=true $(CDK) synth --quiet $(CDK_ARGS)
	@echo "template: cdk.out/Agentq.template.json"

diff: build $(CDK_STAMP) ## compare the stack with what is deployed (needs AWS credentials)
	$(CDK_ENV) $(CDK) diff $(CDK_ARGS)

# The CLI synthesizes the app before it bootstraps (to learn the environments), so bootstrap needs
# the binaries and the context a synth needs.
cdk-bootstrap: build $(CDK_STAMP) ## once per account and region: build, then create the CDK asset bucket and roles (needs AWS credentials)
	$(CDK_ENV) $(CDK) bootstrap $(CDK_ARGS)

deploy: build $(CDK_STAMP) ## deploy the stack with the pinned CDK CLI (needs AWS credentials); prints ApiUrl
	$(CDK_ENV) $(CDK) deploy $(CDK_ARGS) $(CDK_FLAGS)

# What deploy-check synthesizes: the default stack (HTTP API) and the REST flavour, each into its
# own directory, with the context each needs.
CHECK_OUT          := cdk.out/check
CHECK_CONTEXT_http :=
CHECK_CONTEXT_rest := -c api=rest -c restLogRole=create

deploy-check: build $(CDK_STAMP) ## offline: synthesize both API flavours, cfn-lint both templates (.cfnlintrc), then the infra tests (assertions, cdk-nag)
	@command -v cfn-lint >/dev/null || { echo "deploy-check: cfn-lint is not on PATH (it is preinstalled on the project's machines and CI)" >&2; exit 1; }
	$(CDK_ENV) AWS_EC2_METADATA_DISABLED=true $(CDK) synth --quiet $(CDK_ARGS) $(CHECK_CONTEXT_http) -o $(CHECK_OUT)/http
	$(CDK_ENV) AWS_EC2_METADATA_DISABLED=true $(CDK) synth --quiet $(CDK_ARGS) $(CHECK_CONTEXT_rest) -o $(CHECK_OUT)/rest
	cfn-lint -- $(CHECK_OUT)/http/Agentq.template.json $(CHECK_OUT)/rest/Agentq.template.json
	$(MAKE) --no-print-directory -f mk/infra.mk test-infra

# The deployed stack's smoke test: both dialects, a webhook and an event-triggered invocation.
# API_URL is the stack's ApiUrl output; the key comes from AGENTQ_API_KEY; see README "Deploy".
API_URL       ?=
smoke-aws: ## check a deployed stack: API_URL=… AGENTQ_API_KEY=… [WEBHOOK_URL=…] [EVENT_BUS=…] (EventBridge needs AWS credentials)
	$(GO) run ./cmd/agentq smoke -api "$(API_URL)"

test-infra: ## CDK assertions tests of every construct (infra/, synthesizes with jsii; no AWS needed)
	cd $(INFRA_DIR) && $(CDK_ENV) $(GO) test -count=1 ./...

localstack-up: ## start LocalStack (Docker, 127.0.0.1:4566) and the echo agent; waits until ready
	$(COMPOSE) up -d --wait

localstack-deploy: $(CDK_STAMP) ## build for the Docker host and deploy the stack to LocalStack with cdklocal (REST API, ephemeral)
	bash $(LOCALSTACK)/deploy.sh

localstack-smoke: ## run the request/poll flow of both dialects against the stack on LocalStack
	bash $(LOCALSTACK)/smoke.sh

localstack-down: ## stop LocalStack and drop its state
	$(COMPOSE) down -v --remove-orphans
