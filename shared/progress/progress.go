// Package progress lets agents write into their task's event log while they work, with no
// compute of agentq's held meanwhile: HTTP and Lambda agents POST reports to the progress_url
// they were given, and A2A agents that support push notifications push their task's updates to a
// per-task push configuration. Each task has its own secret token, derived from a key and never
// stored; a token opens one task's log and no other, reports are bounded in size and rate, and
// an agent can only report progress, never forge the events agentq writes (created, finished).
package progress

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// Tasks reads tasks by id.
type Tasks interface {
	Get(ctx context.Context, id string) (*task.Task, error)
}

// Errors of Report and Push. The log's own refusals (tasklog.ErrRateLimited, ErrFull,
// ErrDuplicate) pass through.
var (
	// ErrToken: no token, or not the token of this task. An unknown task answers the same, so a
	// token-less caller learns nothing of which tasks exist.
	ErrToken = errors.New("progress: the token does not open this task's log")
	// ErrEnded: the task has ended; its log takes no more reports.
	ErrEnded = errors.New("progress: the task has ended")
	// ErrRemoteTask: the push is about another task of the agent's than the one this task runs.
	ErrRemoteTask = errors.New("progress: the push names another remote task")
)

// InvalidError is a report or push that cannot be read; the message says why, never what it held.
type InvalidError struct{ Message string }

func (e *InvalidError) Error() string { return "progress: " + e.Message }

// Keys derives per-task tokens: HMAC-SHA256 over the tenant and the task id under a secret key.
// Nothing is stored: the token is derived again to check it.
type Keys struct {
	key func(ctx context.Context) ([]byte, error)
}

// NewKeys returns the token deriver for key (config.ProgressKey).
func NewKeys(key []byte) *Keys {
	return &Keys{key: func(context.Context) ([]byte, error) { return key, nil }}
}

// NewKeysFrom returns the token deriver for the key that key answers when a token is first
// needed (progresskey.Store.Key, which opens the table's key once per instance).
func NewKeysFrom(key func(ctx context.Context) ([]byte, error)) *Keys { return &Keys{key: key} }

// Token answers the token of the task id of tenant; it fails only when the key cannot be had.
func (k *Keys) Token(ctx context.Context, tenant, id string) (string, error) {
	key, err := k.key(ctx)
	if err != nil {
		return "", fmt.Errorf("progress token: %w", err)
	}
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "agentq-progress-v1\x00%s\x00%s", tenant, id)
	return "aqp_" + base64.RawURLEncoding.EncodeToString(m.Sum(nil)), nil
}

// valid checks token against the task's, in constant time.
func (k *Keys) valid(ctx context.Context, tenant, id, token string) (bool, error) {
	if token == "" {
		return false, nil
	}
	want, err := k.Token(ctx, tenant, id)
	if err != nil {
		return false, err
	}
	return hmac.Equal([]byte(token), []byte(want)), nil
}

// PushDecoder reads a push notification body as the remote task it is about and the reports it
// makes (a2apush.Decode reads A2A's); its error says what is wrong, never what was sent.
type PushDecoder func(body []byte) (remoteTaskID string, reports []Report, err error)

// Service checks reports and pushes and appends them to their task's log.
type Service struct {
	tasks  Tasks
	log    tasklog.Appender
	keys   *Keys
	decode PushDecoder
}

// New returns the service over the task store, the log and the token keys; decode reads pushes.
func New(tasks Tasks, log tasklog.Appender, keys *Keys, decode PushDecoder) *Service {
	return &Service{tasks: tasks, log: log, keys: keys, decode: decode}
}

// open finds the task the token opens, or refuses.
func (s *Service) open(ctx context.Context, id, token string) (*task.Task, error) {
	t, err := s.tasks.Get(ctx, id)
	if errors.Is(err, task.ErrNotFound) {
		return nil, ErrToken
	}
	if err != nil {
		return nil, err
	}
	ok, err := s.keys.valid(ctx, t.Tenant, t.ID, token)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrToken
	}
	if t.State.Terminal() {
		return nil, ErrEnded
	}
	return t, nil
}

// append logs one report of the task's agent.
func (s *Service) append(ctx context.Context, t *task.Task, r Report) (tasklog.Event, error) {
	return s.log.Append(ctx, tasklog.Entry{
		TaskID: t.ID, Tenant: t.Tenant, ExpiresAt: t.ExpiresAt, Type: r.Type, Data: r.Data,
		Dedupe: r.Dedupe, Limited: true, Claimed: t.Attempts > 0, Notify: t.ProgressEvents,
	})
}

// Report appends the report body of the agent working on task id, which it authenticates with token.
func (s *Service) Report(ctx context.Context, id, token string, body []byte) (tasklog.Event, error) {
	r, err := DecodeReport(body)
	if err != nil {
		return tasklog.Event{}, err
	}
	t, err := s.open(ctx, id, token)
	if err != nil {
		return tasklog.Event{}, err
	}
	return s.append(ctx, t, r)
}

// Push appends the events of a push notification body for task id, authenticated by token. The
// push must be about the remote task the task runs (once the worker has recorded it), and a
// notification is logged once: a second delivery of the same body is refused with
// tasklog.ErrDuplicate. An event the decoder named (Report.Dedupe: a part of a task pushed
// whole, as A2A 0.3 agents push) is logged once too: one already in the log is skipped, and a
// push whose every event is is refused as a duplicate.
func (s *Service) Push(ctx context.Context, id, token string, body []byte) ([]tasklog.Event, error) {
	remoteTaskID, reports, err := s.decode(body)
	if err != nil {
		return nil, &InvalidError{err.Error()}
	}
	t, err := s.open(ctx, id, token)
	if err != nil {
		return nil, err
	}
	if t.RemoteTaskID != "" && remoteTaskID != t.RemoteTaskID {
		return nil, ErrRemoteTask
	}
	for _, r := range reports {
		if len(r.Data) > MaxReportBytes {
			return nil, &InvalidError{fmt.Sprintf("an event of a push is at most %d bytes", MaxReportBytes)}
		}
	}
	sum := sha256.Sum256(body)
	var out []tasklog.Event
	var dup error
	for i, r := range reports {
		if i == 0 && r.Dedupe == "" {
			r.Dedupe = "push:" + hex.EncodeToString(sum[:16])
		}
		ev, err := s.append(ctx, t, r)
		if errors.Is(err, tasklog.ErrDuplicate) {
			dup = err
			continue
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	if len(out) == 0 && dup != nil {
		return nil, dup
	}
	return out, nil
}
