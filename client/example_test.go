package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/agentq/agentq/client"
	"github.com/agentq/agentq/shared/webhook/signing"
)

// Invoke an agent, then wait for its answer. (apiURL and apiKey are a running system's; against
// `agentq run` they are client.DefaultURL and $AGENTQ_API_KEY.)
func Example() {
	ctx := context.Background()
	c, err := client.New(apiURL, client.WithAPIKey(apiKey))
	if err != nil {
		panic(err)
	}
	task, err := c.Invoke(ctx, "echo", client.InvokeRequest{Input: client.Input{Text: "Analyze competitor pricing"}}, client.InvokeOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(task.Status)
	task, err = c.Wait(ctx, task.TaskId.String(), nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(task.Status, *task.Result)
	// Output:
	// pending
	// completed Analyze competitor pricing
}

// InvokeSync answers the outcome, however long the task takes: past the server's hold it waits.
func ExampleClient_InvokeSync() {
	c, _ := client.New(apiURL, client.WithAPIKey(apiKey))
	req := client.InvokeRequest{Input: client.Input{Text: "quick question", AdditionalProperties: map[string]any{"delay_ms": 100}}}
	task, err := c.InvokeSync(context.Background(), "echo", req, client.InvokeOptions{}, func(t *client.Task) {
		// Called with each status the task takes: show progress here.
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(task.Status, *task.Result)
	// Output: completed quick question
}

// Tasks follows the list's pages; the loop may stop at any time.
func ExampleClient_Tasks() {
	ctx := context.Background()
	c, _ := client.New(apiURL, client.WithAPIKey(apiKey))
	n := 0
	for task, err := range c.Tasks(ctx, client.ListQuery{Status: []string{"completed"}, Limit: 10}) {
		if err != nil {
			panic(err)
		}
		_ = task.Result
		if n++; n == 3 {
			break
		}
	}
	fmt.Println(n <= 3)
	// Output: true
}

// API errors carry the API's code, the HTTP status and the server's retry hint.
func ExampleError() {
	c, _ := client.New(apiURL, client.WithAPIKey(apiKey))
	_, err := c.Get(context.Background(), "no-such-task")
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Code, e.Temporary())
	}
	// Output: 404 task_not_found false
}

// A receiver checks a delivery's signature over the raw body before it trusts it.
func ExampleWebhookVerifier_Verify() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"type":"task.completed","data":{}}`)

	// What agentq sends (here signed on the spot):
	h := http.Header{}
	key, _ := signing.ParseSecret(secret)
	signing.SetHeaders(h, [][]byte{key}, "msg_1", time.Now(), body)

	v := client.WebhookVerifier{Secret: secret}
	fmt.Println(v.Verify(h, body) == nil)
	fmt.Println(v.Verify(h, []byte(`{"type":"task.failed"}`)) == nil)
	// Output:
	// true
	// false
}
