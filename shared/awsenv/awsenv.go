// Package awsenv builds the AWS SDK configuration of a Lambda function from its environment
// alone: the region, the execution role's credentials and the standard endpoint overrides
// (AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>) that Lambda or a local runner set.
//
// It stands in for config.LoadDefaultConfig, which also looks for shared config and credential
// files, SSO, web identity, container and instance-metadata credentials: none of them exists in a
// Lambda execution environment, and linking and initialising them costs a function part of its
// cold start (DESIGN.md, "Cold starts").
package awsenv

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// The variables Load reads; Lambda sets the first four for every function.
const (
	EnvRegion        = "AWS_REGION"
	EnvAccessKeyID   = "AWS_ACCESS_KEY_ID"
	EnvSecretKey     = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken  = "AWS_SESSION_TOKEN"
	EnvDefaultRegion = "AWS_DEFAULT_REGION"
	// EnvEndpointURL points every service at one endpoint; EnvEndpointURL + "_" + the service's
	// SDK ID (upper case, spaces as underscores) points one service, and wins.
	EnvEndpointURL = "AWS_ENDPOINT_URL"
	// EnvIgnoreEndpoints set to true ignores both, as the SDK does.
	EnvIgnoreEndpoints = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
)

// ErrNoCredentials says the environment holds no credentials: the function runs outside Lambda
// without AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
var ErrNoCredentials = errors.New("no AWS credentials in the environment (" + EnvAccessKeyID + ", " + EnvSecretKey + ")")

// Load answers the configuration getenv describes. It reads no file and makes no network call.
func Load(getenv func(string) string) (aws.Config, error) {
	region := getenv(EnvRegion)
	if region == "" {
		region = getenv(EnvDefaultRegion)
	}
	if region == "" {
		return aws.Config{}, fmt.Errorf("load aws config: %s is not set", EnvRegion)
	}
	id, secret := getenv(EnvAccessKeyID), getenv(EnvSecretKey)
	if id == "" || secret == "" {
		return aws.Config{}, fmt.Errorf("load aws config: %w", ErrNoCredentials)
	}
	e := endpoints{getenv: getenv}
	cfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, getenv(EnvSessionToken))),
		// The service clients ask these for AWS_ENDPOINT_URL_<SERVICE> (internal/configsources).
		ConfigSources: []any{e},
	}
	if u := getenv(EnvEndpointURL); u != "" && !e.ignored() {
		cfg.BaseEndpoint = aws.String(u)
	}
	return cfg, nil
}

// endpoints answers the service clients' questions about configured endpoints from the
// environment, as the SDK's EnvConfig does.
type endpoints struct{ getenv func(string) string }

// GetServiceBaseEndpoint answers AWS_ENDPOINT_URL_<SERVICE> for the service named sdkID.
func (e endpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if e.ignored() {
		return "", false, nil
	}
	v := e.getenv(EnvEndpointURL + "_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return v, v != "", nil
}

// GetIgnoreConfiguredEndpoints answers AWS_IGNORE_CONFIGURED_ENDPOINT_URLS.
func (e endpoints) GetIgnoreConfiguredEndpoints(context.Context) (bool, bool, error) {
	v := e.getenv(EnvIgnoreEndpoints)
	return strings.EqualFold(v, "true"), v != "", nil
}

func (e endpoints) ignored() bool {
	v, _, _ := e.GetIgnoreConfiguredEndpoints(context.Background())
	return v
}
