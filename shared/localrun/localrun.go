// Package localrun runs the whole system on one machine, with no cloud and no Docker: the AWS
// emulators, the table and queues built from the same definitions the CDK stack uses, the HTTP
// API, the worker fed by a local event source mapping, and the echo demo agent. The handlers are
// exactly those the Lambda functions run.
package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/demoagent"
	"github.com/agentq/agentq/shared/dispatch"
	"github.com/agentq/agentq/shared/esm"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/localaws"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/worker"
)

// Options configures a local system. The zero value of every field but APIKey is usable.
type Options struct {
	// Addr is where the API listens; default 127.0.0.1:8042. Use 127.0.0.1:0 for a free port.
	Addr string
	// APIKey is the key callers present; it belongs to Tenant.
	APIKey string
	// Tenant owns APIKey; default "default".
	Tenant string
	// Agents are published besides echo.
	Agents []agent.Agent
	// DynamoDBEndpoint and SQSEndpoint, when both set, are used instead of starting emulators.
	DynamoDBEndpoint, SQSEndpoint string
	// DataDir keeps DynamoDB's data across runs; empty keeps it in memory.
	DataDir string
	// Table and Queue name the task table and work queue; defaults agentq-tasks and agentq-work.
	Table, Queue string
	// Visibility is the work queue's visibility timeout; default 2 minutes.
	Visibility time.Duration
	// Backoff overrides the worker's redelivery backoff.
	Backoff func(n int) time.Duration
	// TaskTTL is how long task records are kept; default 30 days.
	TaskTTL time.Duration
	Logger  *slog.Logger
}

// System is a running local agentq.
type System struct {
	// APIURL is the base URL of the HTTP API.
	APIURL string
	// EchoURL is the demo agent's endpoint.
	EchoURL string
	Table   string
	Queues  queue.Queues
	// DynamoDB and SQS are clients of the emulators (or of the given endpoints).
	DynamoDB *dynamodb.Client
	SQS      *sqs.Client
	// DynamoDBEndpoint and SQSEndpoint are where those clients connect.
	DynamoDBEndpoint, SQSEndpoint string

	emulators *localaws.Emulators
	servers   []*http.Server
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Clients returns DynamoDB and SQS clients for the given endpoints, with static local credentials.
func Clients(dynamoEndpoint, sqsEndpoint string, maxAttempts int) (*dynamodb.Client, *sqs.Client) {
	cfg := aws.Config{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: maxAttempts,
	}
	ddb := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(dynamoEndpoint) })
	sq := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(sqsEndpoint) })
	return ddb, sq
}

// Start brings the system up and returns once the API answers.
func Start(ctx context.Context, o Options) (s *System, err error) {
	if o.APIKey == "" {
		return nil, errors.New("start local system: an API key is required")
	}
	o.defaults()
	s = &System{Table: o.Table}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	s.DynamoDBEndpoint, s.SQSEndpoint = o.DynamoDBEndpoint, o.SQSEndpoint
	if s.DynamoDBEndpoint == "" || s.SQSEndpoint == "" {
		s.emulators, err = localaws.Start(ctx, localaws.Options{DataDir: o.DataDir})
		if err != nil {
			return nil, fmt.Errorf("start local system: %w", err)
		}
		s.DynamoDBEndpoint, s.SQSEndpoint = s.emulators.DynamoDBEndpoint, s.emulators.SQSEndpoint
	}
	s.DynamoDB, s.SQS = Clients(s.DynamoDBEndpoint, s.SQSEndpoint, 0)
	if err := store.CreateTable(ctx, s.DynamoDB, o.Table); err != nil {
		return nil, fmt.Errorf("start local system: %w", err)
	}
	if s.Queues, err = queue.Create(ctx, s.SQS, o.Queue, o.Visibility); err != nil {
		return nil, fmt.Errorf("start local system: %w", err)
	}

	echoLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start echo agent: %w", err)
	}
	s.EchoURL = "http://" + echoLn.Addr().String() + "/"
	s.serve(echoLn, demoagent.Handler())

	echo := agent.Agent{
		ID: "echo", Name: "Echo", Description: "Answers with the text it was given; see the README for delay_ms and fail.",
		Protocol: agent.HTTP, Endpoint: s.EchoURL, Timeout: agent.Duration(4 * time.Minute), Auth: agent.AuthForward,
	}
	registry, err := agent.NewStatic(append([]agent.Agent{echo}, o.Agents...))
	if err != nil {
		return nil, fmt.Errorf("start local system: %w", err)
	}
	keys := &apikey.Keys{}
	if err := keys.Add(o.Tenant, apikey.Hash(o.APIKey)); err != nil {
		return nil, fmt.Errorf("start local system: %w", err)
	}

	tasks := store.New(s.DynamoDB, o.Table)
	work := queue.NewClient(s.SQS, s.Queues.URL)
	api := httpapi.New(httpapi.Config{
		Submitter: accept.New(accept.Config{Store: tasks, Queue: work, Registry: registry, TTL: o.TaskTTL, Logger: o.Logger}),
		Reader:    tasks,
		Keys:      keys,
		Logger:    o.Logger,
	})
	apiLn, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("start api on %s: %w", o.Addr, err)
	}
	s.APIURL = "http://" + apiLn.Addr().String()
	s.serve(apiLn, api)

	proc := worker.New(worker.Config{
		Store: tasks, Dispatcher: dispatch.New(dispatch.HTTPClient()), Queue: work,
		DeadLetterARN: s.Queues.DLQARN, Logger: o.Logger, Backoff: o.Backoff,
	})
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	for _, m := range []*esm.Mapping{
		{API: s.SQS, QueueURL: s.Queues.URL, QueueARN: s.Queues.ARN, Region: "us-east-1", Handler: proc.Handle, Pollers: 4, Logger: o.Logger},
		{API: s.SQS, QueueURL: s.Queues.DLQURL, QueueARN: s.Queues.DLQARN, Region: "us-east-1", Handler: proc.Handle, Pollers: 1, Logger: o.Logger},
	} {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = m.Run(runCtx)
		}()
	}
	return s, nil
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8042"
	}
	if o.Tenant == "" {
		o.Tenant = "default"
	}
	if o.Table == "" {
		o.Table = "agentq-tasks"
	}
	if o.Queue == "" {
		o.Queue = "agentq-work"
	}
	if o.Visibility == 0 {
		o.Visibility = 2 * time.Minute
	}
	if o.TaskTTL == 0 {
		o.TaskTTL = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

func (s *System) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
}

// Close stops everything Start started: pollers, servers and emulators. It may be called more
// than once.
func (s *System) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *System) close() error {
	if s.cancel != nil {
		s.cancel()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, srv.Close())
		}
	}
	s.wg.Wait()
	if s.emulators != nil {
		errs = append(errs, s.emulators.Close())
	}
	return errors.Join(errs...)
}

// ReadAgents reads a JSON array of agents from a file.
func ReadAgents(path string) ([]agent.Agent, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agents: %w", err)
	}
	var agents []agent.Agent
	if err := json.Unmarshal(b, &agents); err != nil {
		return nil, fmt.Errorf("read agents from %s: %w", path, err)
	}
	return agents, nil
}
