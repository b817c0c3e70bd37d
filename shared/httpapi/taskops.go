package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/dialect"
	"github.com/agentq/agentq/shared/task"
)

// FullMessage is one message of GET /v1/tasks/{id}/thread/full, as xpander's has it.
type FullMessage struct {
	ID   string `json:"id"`
	Role string `json:"role"` // user or assistant
	// Content is what was said.
	Content string `json:"content"`
	// CreatedAt is Unix seconds.
	CreatedAt int64 `json:"created_at"`
	// Metrics are the tokens the agent reported for its answer (assistant messages).
	Metrics *MessageMetrics `json:"metrics,omitempty"`
}

// MessageMetrics counts the tokens of one message.
type MessageMetrics struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

// getFullThread answers a task's conversation under "root" and each sub-task's own messages
// under its id: {"root": [...], "<sub-task id>": [...]}.
func (a *api) getFullThread(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, family, err := a.family(w, r, tenant, a.Families)
	if err != nil {
		return err
	}
	threadID := t.ThreadID
	if threadID == "" {
		threadID = t.ID
	}
	var root []*task.Task
	out := map[string][]FullMessage{}
	now := a.Now()
	for _, u := range family {
		switch {
		case u.Tenant != tenant || u.Expired(now):
		case u.ID == t.ID || (t.ThreadID != "" && u.ThreadID == t.ThreadID):
			root = append(root, u)
		default:
			out[u.ID] = turnMessages(u.ID, u)
		}
	}
	slices.SortStableFunc(root, func(x, y *task.Task) int { return x.ThreadSeq - y.ThreadSeq })
	msgs := []FullMessage{}
	for _, u := range root {
		msgs = append(msgs, turnMessages(threadID, u)...)
	}
	out["root"] = msgs
	writeJSON(w, http.StatusOK, out)
	return nil
}

// turnMessages are a turn's messages: what the user asked and, when the turn completed, what the
// agent answered. Ids are "<conversation>_user_<turn>" and "<conversation>_agent_<turn>".
func turnMessages(conversation string, u *task.Task) []FullMessage {
	turn := strconv.Itoa(max(u.ThreadSeq, 1))
	out := []FullMessage{{ID: conversation + "_user_" + turn, Role: "user", Content: u.Text, CreatedAt: u.CreatedAt.Unix()}}
	if u.State == task.Succeeded {
		at := u.FinishedAt
		if at.IsZero() {
			at = u.UpdatedAt
		}
		out = append(out, FullMessage{
			ID: conversation + "_agent_" + turn, Role: "assistant", Content: u.Result, CreatedAt: at.Unix(),
			Metrics: &MessageMetrics{InputTokens: u.Usage.Prompt, OutputTokens: u.Usage.Completion, TotalTokens: u.Usage.Total},
		})
	}
	return out
}

// LLMUsage is GET /v1/tasks/{id}/llm_usage's answer, as xpander's has it.
type LLMUsage struct {
	TaskID       string `json:"task_id"`
	Tokens       int    `json:"tokens"`
	InputTokens  int    `json:"input_tokens"`
	OutputTokens int    `json:"output_tokens"`
	Actions      int    `json:"actions"`
	// IsBYOK is always false: agentq runs no model of its own, so none of the usage is billed
	// through it, and Cost is what the agents themselves reported.
	IsBYOK bool    `json:"is_byok"`
	Cost   float64 `json:"cost"`
}

// getUsage answers what a task's agent reported its work took, summed over the turns of its
// conversation when it belongs to one; zeros when the agent reported nothing.
func (a *api) getUsage(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, err := a.find(r.Context(), w, tenant, r.PathValue("task_id"), true)
	if err != nil {
		return err
	}
	turns := []*task.Task{t}
	if t.ThreadID != "" && a.Threads != nil {
		all, err := a.Threads.Turns(r.Context(), tenant, t.ThreadID, maxTurns)
		if err != nil {
			return err
		}
		// The index lags behind the table: the turn just read is the freshest copy of itself.
		for _, u := range all {
			if u.ID != t.ID && u.Tenant == tenant {
				turns = append(turns, u)
			}
		}
	}
	var sum task.Usage
	for _, u := range turns {
		sum.Prompt += u.Usage.Prompt
		sum.Completion += u.Usage.Completion
		sum.Total += u.Usage.Total
		sum.Actions += u.Usage.Actions
		sum.Cost += u.Usage.Cost
	}
	writeJSON(w, http.StatusOK, LLMUsage{
		TaskID: dialect.Xpander(t).ID, Tokens: sum.Total, InputTokens: sum.Prompt, OutputTokens: sum.Completion,
		Actions: sum.Actions, Cost: math.Round(sum.Cost*1e5) / 1e5, // xpander rounds to 5 places
	})
	return nil
}

// deleteTask deletes a task for good, with its conversation's turns and their sub-tasks, after
// stopping whichever of them has not ended (and asking their agents to stop). It answers 204.
func (a *api) deleteTask(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, family, err := a.family(w, r, tenant, a.Deleter)
	if err != nil {
		return err
	}
	for _, u := range family {
		if u.Tenant != tenant {
			return task.ErrNotFound // never: the indexes are the tenant's; this only makes sure
		}
		if _, err := a.cancel(r.Context(), u); err != nil && !errors.Is(err, task.ErrNotFound) {
			return err
		}
	}
	if err := a.Deleter.Delete(r.Context(), family); err != nil {
		return err
	}
	a.Logger.Info("task deleted", "task_id", t.ID, "agent_id", t.AgentID, "tenant", tenant, "deleted", len(family))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// family reads the task the path names (a task or conversation id) and its family.
func (a *api) family(w http.ResponseWriter, r *http.Request, tenant string, fs Families) (*task.Task, []*task.Task, error) {
	t, err := a.find(r.Context(), w, tenant, r.PathValue("task_id"), true)
	if err != nil {
		return nil, nil, err
	}
	family, err := fs.Family(r.Context(), t)
	if errors.Is(err, task.ErrFamilyTooLarge) {
		return nil, nil, &apiError{http.StatusConflict, "too_many_tasks", "the task's conversation and sub-tasks hold more than " + strconv.Itoa(task.MaxFamily) + " tasks; delete some of its sub-tasks first"}
	}
	return t, family, err
}

// Bounds of a human-in-the-loop decision's fields.
const (
	maxDeciderBytes = 256
	maxDecisionText = 4 << 10
)

// approveTask lets a paused task go on: it records who approved (hitl_request.approved_by), and
// the agent's paused task is sent the approval and goes on as the same task.
func (a *api) approveTask(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, who, message, err := a.decision(w, r, tenant, "approved_by", "message")
	if err != nil {
		return err
	}
	answer := "approved"
	if message != "" {
		answer = message
	}
	queued, err := a.decide(r.Context(), t, task.Change{To: task.Queued, HITL: withDecision(t.HITL, "approved_by", who, a.Now())})
	if err != nil {
		return err
	}
	if err := a.Resumer.Resume(r.Context(), queued, answer); err != nil {
		// Nothing will run it: put it back as it was, so that it can be approved again.
		_, rerr := a.Stopper.Transition(context.WithoutCancel(r.Context()), t.ID, task.Change{
			From: []task.State{task.Queued}, Version: queued.Version, To: task.Paused, Now: a.Now().UTC(), HITL: t.HITL,
		})
		if rerr != nil {
			a.Logger.Error("put an approved task back to paused", "task_id", t.ID, "err", rerr)
		}
		return err
	}
	a.Logger.Info("task approved", "task_id", t.ID, "agent_id", t.AgentID, "tenant", tenant)
	return a.writeTask(r.Context(), w, http.StatusOK, queued, task.Xpander)
}

// rejectTask ends a paused task: it fails with reason hitl_rejected, recording who rejected it
// (hitl_request.rejected_by) and why, and the agent is asked to cancel its paused task.
func (a *api) rejectTask(w http.ResponseWriter, r *http.Request, tenant string) error {
	t, who, reason, err := a.decision(w, r, tenant, "rejected_by", "reason")
	if err != nil {
		return err
	}
	msg := "rejected by " + who
	if reason != "" {
		msg += ": " + reason
	}
	failed, err := a.decide(r.Context(), t, task.Change{
		To: task.Failed, Reason: task.ReasonHITLRejected, ReasonMessage: msg,
		HITL: withDecision(t.HITL, "rejected_by", who, a.Now()),
	})
	if err != nil {
		return err
	}
	if failed.RemoteTaskID != "" && a.Canceler != nil {
		if err := a.Canceler.CancelRemote(r.Context(), failed); err != nil {
			a.Logger.Warn("ask the agent to cancel a rejected task", "task_id", t.ID, "err", err)
		}
	}
	a.Logger.Info("task rejected", "task_id", t.ID, "agent_id", t.AgentID, "tenant", tenant)
	return a.writeTask(r.Context(), w, http.StatusOK, failed, task.Xpander)
}

// decision reads a decision about the paused task the path names: its body is one object of who
// decided (the field whoName, required) and a text (textName, optional), strings both.
func (a *api) decision(w http.ResponseWriter, r *http.Request, tenant, whoName, textName string) (*task.Task, string, string, error) {
	shape := `{"` + whoName + `": "<who>", "` + textName + `": "<text>"}`
	var body map[string]*string
	err := decodeStrict(w, r, &body, false, shape)
	var ae *apiError
	if errors.As(err, &ae) && ae.code == "validation_failed" {
		// In the shape of the decision's other problems: a list, located at the body.
		return nil, "", "", &dialect.ValidationError{Problems: []dialect.Problem{{Loc: []string{"body"}, Msg: ae.message, Type: "json_invalid"}}}
	}
	if err != nil {
		return nil, "", "", err
	}
	var problems []dialect.Problem
	problem := func(field, msg, typ string) {
		problems = append(problems, dialect.Problem{Loc: []string{"body", field}, Msg: msg, Type: typ})
	}
	for k := range body {
		if k != whoName && k != textName {
			problem(k, "extra fields not permitted: the body is "+shape, "extra_forbidden")
		}
	}
	who, text := body[whoName], body[textName]
	switch {
	case who == nil || *who == "":
		problem(whoName, "field required", "missing")
	case len(*who) > maxDeciderBytes:
		problem(whoName, "must be at most "+strconv.Itoa(maxDeciderBytes)+" bytes", "too_long")
	}
	if text != nil && len(*text) > maxDecisionText {
		problem(textName, "must be at most "+strconv.Itoa(maxDecisionText)+" bytes", "too_long")
	}
	if problems != nil {
		slices.SortFunc(problems, func(x, y dialect.Problem) int { return strings.Compare(x.Loc[1], y.Loc[1]) })
		return nil, "", "", &dialect.ValidationError{Problems: problems}
	}
	t, err := a.paused(r.Context(), w, tenant, r.PathValue("task_id"))
	if err != nil {
		return nil, "", "", err
	}
	if text == nil {
		return t, *who, "", nil
	}
	return t, *who, *text, nil
}

// paused reads the task the path names, which must be waiting for a decision.
func (a *api) paused(ctx context.Context, w http.ResponseWriter, tenant, id string) (*task.Task, error) {
	t, err := a.find(ctx, w, tenant, id, true)
	if err != nil {
		return nil, err
	}
	if t.State != task.Paused {
		return nil, notPaused(t)
	}
	return t, nil
}

// decide moves a paused task as a decision says, if it is still paused at the version read.
func (a *api) decide(ctx context.Context, t *task.Task, c task.Change) (*task.Task, error) {
	c.From, c.Version, c.Now = []task.State{task.Paused}, t.Version, a.Now().UTC()
	moved, err := a.Stopper.Transition(ctx, t.ID, c)
	var conflict *task.ConflictError
	if errors.As(err, &conflict) {
		return nil, notPaused(conflict.Current)
	}
	return moved, err
}

func notPaused(t *task.Task) error {
	return &apiError{http.StatusConflict, "task_not_paused", "the task is " + dialect.XpanderStatus(t.State) + ": only a paused task waits for approval"}
}

// withDecision adds who decided (key is approved_by or rejected_by) and when to a task's
// hitl_request.
func withDecision(hitl json.RawMessage, key, who string, at time.Time) json.RawMessage {
	req := map[string]any{}
	_ = json.Unmarshal(hitl, &req) // written by the worker; an unreadable one starts afresh
	req[key] = who
	req["decided_at"] = at.UTC().Format(time.RFC3339)
	b, err := json.Marshal(req)
	if err != nil {
		return hitl
	}
	return b
}
