// Package workertest runs one work message through a worker.Processor without SQS: it encodes
// the message as the record a queue would deliver and answers what became of it, so that tests
// of the parts around the worker need no queue and no batch.
package workertest

import (
	"context"
	"fmt"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/queue"
	"github.com/agentq/agentq/shared/worker"
)

// Delivery says how the record arrives: from which queue, and how many times it has been
// received. The zero value is a first delivery from the work queue.
type Delivery struct {
	// Source is the queue's ARN; the Processor's DeadLetterARN makes it a dead letter.
	Source string
	// Received counts this receipt too; 0 means 1.
	Received int
}

// Run hands m to p as one record and answers its outcome.
func Run(ctx context.Context, p *worker.Processor, m *queue.Message, d Delivery) (worker.Outcome, error) {
	body, err := queue.Encode(m)
	if err != nil {
		return worker.Done, fmt.Errorf("encode work message for task %s: %w", m.TaskID, err)
	}
	rec := batch.Record{ID: "msg-" + m.TaskID, Body: body, Source: d.Source, ReceiptHandle: "rh-" + m.TaskID,
		ReceiveCount: max(d.Received, 1)}
	return p.Process(ctx, rec), nil
}
