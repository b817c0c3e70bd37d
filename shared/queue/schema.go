package queue

import "time"

// Queue settings shared by the CDK stack and the local runner.
const (
	// MaxReceiveCount is how many times a message is received before SQS moves it to the
	// dead-letter queue.
	MaxReceiveCount = 5
	// RetentionPeriod is how long the work queue keeps a message.
	RetentionPeriod = 4 * 24 * time.Hour
	// DeadLetterRetentionPeriod is how long the dead-letter queue keeps a message: the SQS maximum,
	// so an operator has two weeks to look.
	DeadLetterRetentionPeriod = 14 * 24 * time.Hour
)
