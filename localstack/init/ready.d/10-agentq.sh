#!/bin/bash
# Runs inside the LocalStack container once its services are up (ready stage). The stack itself
# is deployed from the host by localstack/deploy.sh; this hook only checks the services the stack
# needs and says so in the container log, where `docker compose logs` shows it.
set -euo pipefail

region="${AWS_DEFAULT_REGION:-us-east-1}"
# S3 and SSM hold the CDK bootstrap (asset bucket, version parameter); the rest is the stack.
for probe in "s3api list-buckets" "ssm describe-parameters" "sqs list-queues" \
             "dynamodb list-tables" "dynamodbstreams list-streams" "lambda list-functions" \
             "apigateway get-rest-apis" "events list-event-buses"; do
  # shellcheck disable=SC2086
  if ! awslocal --region "$region" $probe >/dev/null 2>&1; then
    echo "agentq: LocalStack service check failed: $probe" >&2
    exit 1
  fi
done
echo "agentq: LocalStack is ready for the agentq stack (region $region); run: make localstack-deploy"
