package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// How a wait re-reads its task: every shortRead for its first shortFor, then every longRead.
//
// A wait holds a function: at 128 MB on arm64 about $1.67 per million waits per second held
// (c_h), while a re-read (a consistent GetItem under 4 KB) is $0.125 per million (c_r). Reading
// every T through a hold of H costs c_r·H/T in reads plus, since the task ends on average half
// an interval before the read that sees it, c_h·T/2 of hold: least at T = sqrt(2·c_r·H/c_h) =
// sqrt(0.15·H s), 0.39 s for a 1 s hold, 0.55 s for 2 s, 0.67 s for 3 s. A caller that comes
// back at the Retry-After (the agent's expected duration) holds a few hundred ms to a few
// seconds, where 500 ms is within a few percent of the best (for holds spread over 0.1-3 s,
// $0.85 per million against $1.21 for the former 200 ms doubling to 1 s, with half the added
// latency: 243 ms against 457); a wait still going after 3 s is one that came too soon or a
// task of unknown length, where H is large and T* ≥ 1 s once H ≥ 6.7 s, so it reads every second.
const (
	shortRead = 500 * time.Millisecond
	shortFor  = 3 * time.Second
	longRead  = time.Second
)

// readEvery is how long a wait that has gone on for elapsed waits before its next read.
func readEvery(elapsed time.Duration) time.Duration {
	if elapsed < shortFor {
		return shortRead
	}
	return longRead
}

func (a *api) getTask(w http.ResponseWriter, r *http.Request, tenant string) error {
	return a.poll(w, r, tenant, r.PathValue("task_id"), task.Xpander)
}

func (a *api) getReceipt(w http.ResponseWriter, r *http.Request, tenant string) error {
	return a.poll(w, r, tenant, r.PathValue("receipt_id"), task.ServiceNet)
}

// poll answers a task, after waiting up to ?wait=N seconds for it to end or pause: the states a
// waiter waits for, so that a client reads once per task rather than once per change (SSE is for
// watching every change). Given a thread id, a new turn ends the wait too.
func (a *api) poll(w http.ResponseWriter, r *http.Request, tenant, id string, d task.Dialect) error {
	p := newParams(r)
	wait := p.wait(0)
	if err := p.err(); err != nil {
		return err
	}
	byThread := d == task.Xpander
	first, err := a.find(r.Context(), w, tenant, id, byThread)
	if err != nil {
		return err
	}
	done := func(t *task.Task) bool { return settled(t) || t.ID != first.ID }
	t := a.await(r.Context(), first, wait, func(ctx context.Context) (*task.Task, error) {
		return a.find(ctx, nil, tenant, id, byThread)
	}, done)
	noteTask(w, t.ID, t.AgentID)
	return a.writeTask(r.Context(), w, http.StatusOK, t, d)
}

// find reads the task an id names for the tenant: by task id, or, when byThread and a Resolver is
// configured, by task or thread id. Another tenant's task is indistinguishable from none. w, when
// not nil, learns the ids for the request's log line.
func (a *api) find(ctx context.Context, w http.ResponseWriter, tenant, id string, byThread bool) (*task.Task, error) {
	var (
		t   *task.Task
		err error
	)
	if byThread && a.Resolver != nil {
		if id == "" || len(id) > maxIDBytes {
			return nil, task.ErrNotFound
		}
		t, err = a.Resolver.Resolve(ctx, tenant, id)
	} else {
		if _, perr := uuid.Parse(id); perr != nil {
			return nil, task.ErrNotFound
		}
		if w != nil {
			noteTask(w, id, "")
		}
		t, err = a.Reader.Get(ctx, id)
	}
	if err != nil {
		return nil, storeErr("read task", err)
	}
	if t.Tenant != tenant {
		return nil, task.ErrNotFound
	}
	if w != nil {
		noteTask(w, t.ID, t.AgentID)
	}
	if t.Expired(a.Now()) {
		return nil, errExpired
	}
	return t, nil
}

// storeErr tells a read's answer from the store's failure: not found and a foreign cursor are
// answers; anything else (a timeout, a frozen table, a throttle) is the store being unavailable,
// which the caller hears as 503 store_unavailable with Retry-After.
func storeErr(op string, err error) error {
	if errors.Is(err, task.ErrNotFound) || errors.Is(err, task.ErrInvalidCursor) {
		return err
	}
	return fmt.Errorf("%s: %w: %v", op, accept.ErrStoreUnavailable, err)
}

// await re-reads a task until done says so, wait has passed, the request's deadline nears or the
// caller hangs up, and returns the task as last read. A failed read ends the wait with what was
// read before: the caller polls again.
func (a *api) await(ctx context.Context, t *task.Task, wait time.Duration, read func(context.Context) (*task.Task, error), done func(*task.Task) bool) *task.Task {
	if wait <= 0 || done(t) {
		return t
	}
	deadline := time.Now().Add(wait)
	// The budget's Answer is kept back from the request's deadline, so that a wait answers
	// before the request (a Lambda function) is cut off.
	if dl, ok := ctx.Deadline(); ok && dl.Add(-a.Budget.Answer).Before(deadline) {
		deadline = dl.Add(-a.Budget.Answer)
	}
	start := time.Now()
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return t
		}
		timer := time.NewTimer(min(readEvery(time.Since(start)), left))
		select {
		case <-ctx.Done():
			timer.Stop()
			return t
		case <-timer.C:
		}
		cur, err := read(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.Logger.Warn("read while waiting", "task_id", t.ID, "err", err)
			}
			return t
		}
		if t = cur; done(t) {
			return t
		}
	}
}

// writeTask answers a task in the dialect's shape (ServiceNet's a signed receipt); a task that has
// not ended carries Retry-After.
func (a *api) writeTask(ctx context.Context, w http.ResponseWriter, status int, t *task.Task, d task.Dialect) error {
	var v any = dialect.Xpander(t)
	if d == task.ServiceNet {
		sr, err := a.signedReceipt(ctx, t)
		if err != nil {
			return err
		}
		v = sr
	}
	if !t.State.Terminal() {
		w.Header().Set("Retry-After", retryAfter(t, a.Now(), pollRetryAfter))
	}
	writeJSON(w, status, v)
	return nil
}

// retryAfter answers when a caller should ask about t, which has not ended, again: Retry-After's
// whole seconds. It is the time left of the agent's expected duration, counted from the task's
// accept and rounded up (so at least 1), or fallback when the duration is unknown or has passed,
// or the task waits for input rather than for its agent.
func retryAfter(t *task.Task, now time.Time, fallback string) string {
	if t.Expected <= 0 || t.State == task.Paused {
		return fallback
	}
	left := min(t.CreatedAt.Add(t.Expected).Sub(now), t.Expected) // a clock ahead of now's adds nothing
	if left <= 0 {
		return fallback
	}
	return strconv.Itoa(int(math.Ceil(left.Seconds())))
}

// stopReason is the message recorded on a stopped task.
const stopReason = "stopped by the caller"

func (a *api) stopTask(w http.ResponseWriter, r *http.Request, tenant string) error {
	return a.stop(w, r, tenant, r.PathValue("task_id"), task.Xpander)
}

func (a *api) stopReceipt(w http.ResponseWriter, r *http.Request, tenant string) error {
	return a.stop(w, r, tenant, r.PathValue("receipt_id"), task.ServiceNet)
}

// stopFrom are the states a stop moves a task out of: every state that is not final.
var stopFrom = []task.State{task.Queued, task.Running, task.Paused}

// stop cancels a task that has not ended and answers it as it now stands; a task that has ended
// is answered unchanged, so a stop is idempotent. A running task's agent call is not interrupted:
// the worker's outcome write finds the task canceled and is discarded. A task its agent works on
// asynchronously (A2A) is also canceled at the agent.
func (a *api) stop(w http.ResponseWriter, r *http.Request, tenant, id string, d task.Dialect) error {
	t, err := a.find(r.Context(), w, tenant, id, d == task.Xpander)
	if err != nil {
		return err
	}
	if t, err = a.cancel(r.Context(), t); err != nil {
		return err
	}
	return a.writeTask(r.Context(), w, http.StatusOK, t, d)
}

// cancel stops t unless it has ended, and answers it as it now stands.
func (a *api) cancel(ctx context.Context, t *task.Task) (*task.Task, error) {
	for attempt := 0; !t.State.Terminal(); attempt++ {
		stopped, err := a.Stopper.Transition(ctx, t.ID, task.Change{
			From: stopFrom, To: task.Canceled, Now: a.Now().UTC(), Reason: task.ReasonCanceled, ReasonMessage: stopReason,
		})
		var conflict *task.ConflictError
		switch {
		case err == nil:
			t = stopped
			a.Logger.Info("task stopped", "task_id", t.ID, "agent_id", t.AgentID, "tenant", t.Tenant)
			if t.RemoteTaskID != "" && a.Canceler != nil {
				// The agent works on it at its end: ask it to stop too. The stop stands either way.
				if err := a.Canceler.CancelRemote(ctx, t); err != nil {
					a.Logger.Warn("ask the agent to cancel", "task_id", t.ID, "err", err)
				}
			}
		case errors.As(err, &conflict) && attempt == 0:
			t = conflict.Current // it ended meanwhile; or, should it not have, try once more
		default:
			return nil, err
		}
	}
	return t, nil
}

// maxTurns bounds the turns a thread answer holds.
const maxTurns = 100

// Message is one message of a conversation.
type Message struct {
	ID        string    `json:"id"`
	Role      string    `json:"role"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"created_at"`
}

// Thread is a conversation as GET /v1/tasks/{id}/thread answers it.
type Thread struct {
	ID       string    `json:"id"`
	Messages []Message `json:"messages"`
}

// getThread answers the conversation a task (or thread) id belongs to: for each turn in order,
// the user's message and, when the turn succeeded, the agent's answer.
func (a *api) getThread(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, err := a.find(r.Context(), w, tenant, r.PathValue("task_id"), true)
	if err != nil {
		return err
	}
	th := Thread{ID: t.ThreadID, Messages: []Message{}}
	turns := []*task.Task{t}
	if t.ThreadID == "" {
		th.ID = t.ID // a task outside any thread is a conversation of one turn
	} else {
		if turns, err = a.Threads.Turns(r.Context(), tenant, t.ThreadID, maxTurns); err != nil {
			return storeErr("read thread", err)
		}
		// The index lags behind the table: the turn just read is the freshest copy of itself.
		if i := slices.IndexFunc(turns, func(u *task.Task) bool { return u.ID == t.ID }); i >= 0 {
			turns[i] = t
		} else if len(turns) < maxTurns {
			turns = append(turns, t)
			slices.SortStableFunc(turns, func(x, y *task.Task) int { return x.ThreadSeq - y.ThreadSeq })
		}
	}
	now := a.Now()
	for _, u := range turns {
		if u.Tenant != tenant || u.Expired(now) {
			continue
		}
		th.Messages = append(th.Messages, Message{ID: u.ID + ":user", Role: "user", Content: u.Text, CreatedAt: u.CreatedAt})
		if u.State == task.Succeeded {
			at := u.FinishedAt
			if at.IsZero() {
				at = u.UpdatedAt
			}
			th.Messages = append(th.Messages, Message{ID: u.ID + ":agent", Role: "agent", Content: u.Result, CreatedAt: at})
		}
	}
	writeJSON(w, http.StatusOK, th)
	return nil
}
