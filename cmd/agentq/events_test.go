package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/task"
	"github.com/agentq/agentq/shared/task/tasktest"
	"github.com/agentq/agentq/shared/tasklog"
	"github.com/agentq/agentq/shared/tasklog/tasklogtest"
)

const eventsTaskID = "81250b20-e9d7-4b3b-9995-07dc72b4bb59"

// TestEventsFollow: -follow prints every event once, in order, across the connections the
// server ends at its bound, and returns after the finished event.
func TestEventsFollow(t *testing.T) {
	keys := &apikey.Keys{}
	if err := keys.Add("acme", apikey.Hash("k1")); err != nil {
		t.Fatal(err)
	}
	tasks := tasktest.New(&task.Task{ID: eventsTaskID, Tenant: "acme", State: task.Running, Version: 1, CreatedAt: time.Now(),
		UpdatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)})
	log := tasklogtest.New()
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Reader: tasks, Events: log, Keys: keys, Routes: httpapi.StreamRoutes,
		StreamFor: 150 * time.Millisecond, Heartbeat: 50 * time.Millisecond}))
	defer srv.Close()
	add := func(typ tasklog.Type, n int) {
		if _, err := log.Append(context.Background(), tasklog.Entry{TaskID: eventsTaskID, Tenant: "acme", Type: typ, Data: json.RawMessage(fmt.Sprintf(`{"n":%d}`, n))}); err != nil {
			t.Error(err)
		}
	}
	const total = 12 // created, implied by the task, then the stored events
	go func() {
		for n := 2; n < total; n++ {
			time.Sleep(40 * time.Millisecond) // spans several connections
			add(tasklog.Chunk, n)
		}
		add(tasklog.Finished, total)
	}()
	env := func(k string) string { return map[string]string{"AGENTQ_API_KEY": "k1", "AGENTQ_API_URL": srv.URL}[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"events", eventsTaskID, "-follow"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != total {
		t.Fatalf("%d lines, want %d: %s", len(lines), total, out.String())
	}
	for i, line := range lines {
		var ev tasklog.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Seq != int64(i+1) {
			t.Fatalf("line %d: %s (%v)", i, line, err)
		}
	}

	// Without -follow: the log as it stands, from -after.
	out.Reset()
	if err := run(ctx, []string{"events", eventsTaskID, "-after", "10"}, env, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); got != 2 {
		t.Fatalf("after 10: %q", out.String())
	}
	if err := run(ctx, []string{"events", "-follow"}, env, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Fatalf("no id: %v", err)
	}
	if err := run(ctx, []string{"events", eventsTaskID}, func(string) string { return "" }, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "AGENTQ_API_KEY") {
		t.Fatalf("no key: %v", err)
	}
}
