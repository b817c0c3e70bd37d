package task

import (
	"time"
)

// ListQuery selects a tenant's tasks. List answers them newest first.
type ListQuery struct {
	Tenant string
	// States, when not empty, keeps the tasks in one of these states.
	States []State
	// AgentID and ThreadID, when set, keep the tasks of that agent and of that thread.
	AgentID  string
	ThreadID string
	// ParentTaskID and TriggeringAgentID, when set, keep the sub-tasks of that task and the tasks
	// that agent delegated; UserID the tasks of that end user.
	ParentTaskID      string
	TriggeringAgentID string
	UserID            string
	// CallerAgentID and CallerPublicID, when set, keep the tasks a ServiceNet caller with those
	// ids submitted; InvokeMode (ModeSync or ModeAsync) keeps the tasks invoked that way;
	// Verification keeps the tasks whose receipt has that verdict (VerdictNotRequired also matches
	// none recorded).
	CallerAgentID  string
	CallerPublicID string
	InvokeMode     string
	Verification   string
	// CreatedAfter and CreatedBefore, when set, bound the creation time; both bounds are exclusive.
	CreatedAfter  time.Time
	CreatedBefore time.Time
	// Limit is how many tasks to answer at most: 1 to MaxListLimit; 0 means DefaultListLimit.
	Limit int
	// Cursor continues a listing where the previous page ended; empty starts with the newest.
	Cursor string
	// Offset is how many matching tasks to pass over before the page starts (page-numbered
	// listings). Offset plus Limit may not exceed MaxListDepth.
	Offset int
	// Now, when set, leaves out tasks whose record has expired but that TTL has not deleted yet.
	Now time.Time
}

// Bounds of a listing.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
	// MaxListDepth bounds Offset+Limit: passing over tasks reads them, so page numbers reach only
	// so deep; a cursor goes on from anywhere at the cost of one page.
	MaxListDepth = 1000
	// MaxCount bounds the index entries one count of a listing reads.
	MaxCount = 5000
	// MaxCursorBytes bounds a cursor; ours are far shorter.
	MaxCursorBytes = 4096
)

// The invoke modes and the verdict a list filters on, as receipts spell them.
const (
	ModeSync           = "sync"
	ModeAsync          = "async"
	VerdictNotRequired = "not_required"
)
