package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/agentq/agentq/shared/sse"
)

const eventsUsage = "usage: agentq events TASK_ID [-follow] [-after N] [-api URL]  (API key from AGENTQ_API_KEY)"

// maxQuietResumes bounds how many times in a row -follow reconnects without receiving an event:
// a stream that keeps failing at once is reported, not retried for ever.
const maxQuietResumes = 5

// runEvents prints a task's events, one JSON object a line. Without -follow it reads the log as it
// is (JSON pages); with -follow it streams the events as they happen and resumes from the last one
// whenever the connection ends (the server bounds each connection), until the task finishes.
func runEvents(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	api := fs.String("api", or(getenv("AGENTQ_API_URL"), "http://127.0.0.1:8042"), "the API's base URL (the stream function's URL on AWS)")
	follow := fs.Bool("follow", false, "stream the events until the task finishes")
	after := fs.Int64("after", 0, "start after this event's sequence number")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" {
		return errors.New(eventsUsage)
	}
	key := getenv("AGENTQ_API_KEY")
	if key == "" {
		return errors.New("agentq events: set AGENTQ_API_KEY to your API key")
	}
	base := strings.TrimRight(*api, "/") + "/v1/tasks/" + url.PathEscape(id) + "/events"
	c := &eventsClient{base: base, key: key, out: stdout}
	if *follow {
		return c.follow(ctx, *after)
	}
	return c.pages(ctx, *after)
}

type eventsClient struct {
	base, key string
	out       io.Writer
}

func (c *eventsClient) get(ctx context.Context, u string, header ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("x-api-key", c.key)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("agentq events: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return resp, nil
}

// pages prints the log as it stands, page by page.
func (c *eventsClient) pages(ctx context.Context, after int64) error {
	for {
		resp, err := c.get(ctx, c.base+"?after="+strconv.FormatInt(after, 10), "Accept", "application/json")
		if err != nil {
			return err
		}
		var page struct {
			Items     []json.RawMessage `json:"items"`
			NextAfter int64             `json:"next_after"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("agentq events: read page: %w", err)
		}
		for _, it := range page.Items {
			fmt.Fprintln(c.out, string(it))
		}
		if len(page.Items) == 0 {
			return nil
		}
		after = page.NextAfter
	}
}

// follow streams the events, resuming with Last-Event-ID after every connection ends, until the
// finished event.
func (c *eventsClient) follow(ctx context.Context, after int64) error {
	quiet := 0
	for {
		last, finished, err := c.stream(ctx, after)
		if finished || ctx.Err() != nil {
			return ctx.Err()
		}
		if last > after {
			after, quiet = last, 0
		} else if quiet++; quiet > maxQuietResumes {
			if err == nil {
				err = errors.New("the stream keeps ending without events")
			}
			return fmt.Errorf("agentq events: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(quiet) * 500 * time.Millisecond):
		}
	}
}

// stream reads one connection's events and answers the last sequence number it printed and
// whether it printed the finished event.
func (c *eventsClient) stream(ctx context.Context, after int64) (last int64, finished bool, err error) {
	last = after
	resp, err := c.get(ctx, c.base, "Accept", sse.ContentType, "Last-Event-ID", strconv.FormatInt(after, 10))
	if err != nil {
		return last, false, err
	}
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body)
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return last, false, err
		}
		if ev.Name == "reconnect" {
			continue // the connection's bound: the loop resumes from last
		}
		seq, perr := strconv.ParseInt(ev.ID, 10, 64)
		if perr != nil || seq <= last {
			continue
		}
		fmt.Fprintln(c.out, ev.Data)
		last = seq
		if ev.Name == "finished" {
			return last, true, nil
		}
	}
}
