// Package sse writes and reads Server-Sent Events (text/event-stream, as the WHATWG HTML standard
// defines it): the server side that agentq's event routes stream with, and the small client side
// that the CLI and the tests follow them with.
package sse

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ContentType is the media type of an event stream.
const ContentType = "text/event-stream"

// Event is one event of a stream.
type Event struct {
	// ID is the event's id: the client sends the last one it saw as Last-Event-ID to resume.
	ID string
	// Name is the event's type ("message" when the stream names none).
	Name string
	Data string
}

// Writer writes events to a stream.
type Writer struct{ w io.Writer }

// NewWriter returns a writer of events to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Event writes e. Data with line breaks is written as several data lines, as the format asks.
func (w *Writer) Event(e Event) error {
	var b strings.Builder
	if e.ID != "" {
		b.WriteString("id: " + oneLine(e.ID) + "\n")
	}
	if e.Name != "" {
		b.WriteString("event: " + oneLine(e.Name) + "\n")
	}
	for _, line := range strings.Split(strings.ReplaceAll(e.Data, "\r\n", "\n"), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w.w, b.String())
	return err
}

// Comment writes a comment line, which clients ignore: a heartbeat that keeps proxies from
// closing an idle connection.
func (w *Writer) Comment(text string) error {
	_, err := io.WriteString(w.w, ": "+oneLine(text)+"\n\n")
	return err
}

// Retry tells the client how long to wait, in milliseconds, before it reconnects.
func (w *Writer) Retry(ms int) error {
	_, err := io.WriteString(w.w, "retry: "+strconv.Itoa(ms)+"\n\n")
	return err
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// Reader reads events from a stream.
type Reader struct {
	s      *bufio.Scanner
	lastID string
}

// MaxLine bounds one line of a stream the Reader accepts.
const MaxLine = 1 << 20

// NewReader returns a reader of the stream r.
func NewReader(r io.Reader) *Reader {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), MaxLine)
	return &Reader{s: s}
}

// Next returns the next event, or io.EOF at the end of the stream. An event without an id field
// carries the last id seen, as the format says.
func (r *Reader) Next() (Event, error) {
	var e Event
	var data []string
	seen := false
	for r.s.Scan() {
		line := r.s.Text()
		if line == "" {
			if !seen {
				continue
			}
			e.ID, e.Data = r.lastID, strings.Join(data, "\n")
			if e.Name == "" {
				e.Name = "message"
			}
			return e, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			r.lastID, seen = value, true
		case "event":
			e.Name, seen = value, true
		case "data":
			data, seen = append(data, value), true
		}
	}
	if err := r.s.Err(); err != nil {
		return Event{}, fmt.Errorf("read event stream: %w", err)
	}
	return Event{}, io.EOF
}

// LastID answers the id of the last event read: where to resume.
func (r *Reader) LastID() string { return r.lastID }
