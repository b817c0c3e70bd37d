package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	// Schedules name IANA time zones; the embedded database checks them on any machine, with or
	// without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/agentq/agentq/shared/task"
)

// Schedule is one EventBridge Scheduler schedule that invokes an agent through the trigger
// function: at each time the expression gives, Scheduler hands the trigger an envelope whose
// detail is the invocation (agent_id, dialect and the body's fields), exactly as an "Invoke Agent"
// event on the bus would carry it. Schedules live in code (Schedules), reviewed like any change.
type Schedule struct {
	// Name identifies the schedule in the stack (its construct id and description): letters,
	// digits and dashes, starting with a letter, at most 48 characters, unique. CloudFormation
	// generates the deployed name.
	Name string
	// Expression is Scheduler's: rate(1 day), rate(5 minutes), cron(0 8 ? * MON-FRI *) (six
	// fields), or at(2030-01-01T09:00:00) for one run.
	Expression string
	// Timezone is the IANA zone cron and at expressions are read in; empty means UTC.
	Timezone string
	// AgentID is the agent to invoke.
	AgentID string
	// Dialect is how the trigger reads Body: "xpander" (empty means it) or "servicenet".
	Dialect string
	// Body is a JSON object: the request body in Dialect, plus any of the trigger's control fields
	// (tenant, agent_version, idempotency_key). It may not hold agent_id or dialect, which the
	// fields above set.
	Body string
	// Enabled starts the schedule on deploy. A disabled schedule is deployed but never runs, so
	// adding one costs nothing until it is switched on.
	Enabled bool
}

// Schedules are the deployed schedules. The example is disabled: a deploy must not start
// spending on agent calls nobody asked for. Enable it, or add schedules, here.
var Schedules = []Schedule{
	{
		Name:       "echo-daily",
		Expression: "rate(1 day)",
		Timezone:   "UTC",
		AgentID:    "echo",
		Dialect:    string(task.Xpander),
		Body:       `{"input":{"text":"scheduled hello"}}`,
		Enabled:    false,
	},
}

// MaxScheduleDetailBytes bounds a schedule's detail (agent_id, dialect and the body as JSON):
// Scheduler takes at most 8,192 characters of target input, and the envelope around the detail
// (version, id, detail-type, source, time, resources) takes about 200 of them.
const MaxScheduleDetailBytes = 7680

// Fields of a schedule's detail set from Schedule's own fields, which Body may not repeat.
const (
	FieldAgentID = "agent_id"
	FieldDialect = "dialect"
)

var (
	scheduleName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,47}$`)
	rateExpr     = regexp.MustCompile(`^rate\(([1-9][0-9]*) (minute|minutes|hour|hours|day|days)\)$`)
	cronExpr     = regexp.MustCompile(`^cron\(\S+( \S+){5}\)$`)
	atExpr       = regexp.MustCompile(`^at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\)$`)
)

// CheckSchedules checks every schedule and returns them with their defaults filled in (UTC,
// the xpander dialect).
func CheckSchedules(in []Schedule) ([]Schedule, error) {
	var errs []error
	var out []Schedule
	seen := map[string]bool{}
	for i, s := range in {
		if s.Timezone == "" {
			s.Timezone = "UTC"
		}
		if s.Dialect == "" {
			s.Dialect = string(task.Xpander)
		}
		if err := s.check(); err != nil {
			errs = append(errs, fmt.Errorf("schedule %d (%q): %w", i+1, s.Name, err))
			continue
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("schedule %d: name %q is used twice", i+1, s.Name))
			continue
		}
		seen[s.Name] = true
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func (s Schedule) check() error {
	if !scheduleName.MatchString(s.Name) {
		return errors.New("name: want letters, digits and dashes, starting with a letter, at most 48")
	}
	if err := checkExpression(s.Expression); err != nil {
		return err
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil {
		return fmt.Errorf("timezone %q: want an IANA zone such as Europe/Berlin: %w", s.Timezone, err)
	}
	if s.AgentID == "" {
		return errors.New("agent_id is empty")
	}
	switch task.Dialect(s.Dialect) {
	case task.Xpander, task.ServiceNet:
	default:
		return fmt.Errorf("dialect %q: want %q or %q", s.Dialect, task.Xpander, task.ServiceNet)
	}
	_, err := s.Detail()
	return err
}

func checkExpression(e string) error {
	if m := rateExpr.FindStringSubmatch(e); m != nil {
		n, _ := strconv.Atoi(m[1])
		// Scheduler wants the singular unit for 1 and the plural otherwise.
		if singular := m[2][len(m[2])-1] != 's'; singular != (n == 1) {
			return fmt.Errorf("expression %q: use the singular unit for 1 and the plural otherwise", e)
		}
		return nil
	}
	if cronExpr.MatchString(e) || atExpr.MatchString(e) {
		return nil
	}
	return fmt.Errorf("expression %q: want rate(N unit), cron(six fields) or at(yyyy-mm-ddThh:mm:ss)", e)
}

// Detail is the invocation the schedule sends, as the detail of its envelope: agent_id, dialect
// and the body's fields, each as JSON, the body's values as written (numbers are not rounded
// through float64; only blanks are dropped).
func (s Schedule) Detail() (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s.Body)))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		return nil, fmt.Errorf("body: want one JSON object: %w", err)
	}
	if fields == nil || dec.More() {
		return nil, errors.New("body: want one JSON object")
	}
	for _, k := range []string{FieldAgentID, FieldDialect} {
		if _, ok := fields[k]; ok {
			return nil, fmt.Errorf("body: holds %q, which the schedule's own field sets", k)
		}
	}
	detail := make(map[string]json.RawMessage, len(fields)+2)
	for k, v := range fields {
		detail[k] = v
	}
	detail[FieldAgentID], _ = json.Marshal(s.AgentID)
	detail[FieldDialect], _ = json.Marshal(s.Dialect)
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	if len(b) > MaxScheduleDetailBytes {
		return nil, fmt.Errorf("body: the detail takes %d bytes, more than the %d Scheduler's input leaves", len(b), MaxScheduleDetailBytes)
	}
	return detail, nil
}
