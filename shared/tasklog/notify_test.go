package tasklog_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/uuid"

	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/table"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/tasklog"
)

// TestNotifyMarkFollowsTheOptIn: the events of a task that opted in to progress events are marked
// for the notifier at append (tasklog.AttrNotify), except those its completion events announce
// (paused, finished); a task that did not opt in has no marked event. FromStream reads an event
// item back: its task, its event and its mark.
func TestNotifyMarkFollowsTheOptIn(t *testing.T) {
	suite.Require(t)
	ctx := context.Background()
	name := newTable(t)
	log := tasklog.New(dynamo, name)
	s := store.New(dynamo, name).WithEvents(tasklog.NewRecorder(log, nil))
	for _, optIn := range []bool{true, false} {
		tk := newTask(uuid.NewString())
		tk.ProgressEvents = optIn
		runToPauseAndEnd(t, s, tk, func() {
			if _, err := log.Append(ctx, tasklog.Entry{TaskID: tk.ID, Tenant: tk.Tenant, Type: tasklog.Status, Notify: optIn}); err != nil {
				t.Fatal(err)
			}
		})
		out, err := dynamo.Query(ctx, &dynamodb.QueryInput{
			TableName: aws.String(name), KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :ev)"),
			ExpressionAttributeValues: map[string]ddb.AttributeValue{":pk": table.S(table.TaskPartition(tk.ID)), ":ev": table.S(tasklog.EventKeyPrefix)},
		})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range out.Items {
			id, ev, marked, ok, err := tasklog.FromStream(map[string]ddb.AttributeValue{"pk": it["pk"], "sk": it["sk"]}, it)
			if err != nil || !ok || id != tk.ID {
				t.Fatalf("FromStream = %q, %v, %v", id, ok, err)
			}
			if marked {
				got = append(got, string(ev.Type))
			}
		}
		want := []string{"attempt", "resumed", "attempt", "status"} // created is implied by the task record, never stored
		if !optIn {
			want = nil
		}
		if !slices.Equal(got, want) {
			t.Errorf("opted in %v: marked events %v, want %v", optIn, got, want)
		}
	}
	if _, _, _, ok, _ := tasklog.FromStream(map[string]ddb.AttributeValue{"pk": table.S("TASK#x"), "sk": table.S(table.TaskSortKey)}, nil); ok {
		t.Error("FromStream took a task item for an event")
	}
}

// runToPauseAndEnd creates tk and moves it through an attempt, a pause, a resume and a second
// attempt to success, calling working during the second attempt (the log takes no event after
// finished).
func runToPauseAndEnd(t *testing.T, s *store.Store, tk *task.Task, working func()) {
	t.Helper()
	ctx := context.Background()
	if err := s.Create(ctx, tk); err != nil {
		t.Fatal(err)
	}
	cl, err := s.Claim(ctx, tk.ID, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []task.Change{
		{From: []task.State{task.Running}, Version: cl.Version, To: task.Paused, Now: now.Add(time.Second)},
		{From: []task.State{task.Paused}, To: task.Queued, Now: now.Add(2 * time.Second)},
	} {
		if _, err := s.Transition(ctx, tk.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	if cl, err = s.Claim(ctx, tk.ID, now.Add(3*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	working()
	if _, err := s.Transition(ctx, tk.ID, task.Change{From: []task.State{task.Running}, Version: cl.Version, To: task.Succeeded, Now: now.Add(4 * time.Second), Result: "ok"}); err != nil {
		t.Fatal(err)
	}
}
