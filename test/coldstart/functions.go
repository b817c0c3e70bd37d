package coldstart

// Function is one of agentq's Lambda functions: its main package and the environment its init
// requires (fake values: init connects to nothing).
type Function struct {
	Name, Package string
	Env           []string
}

// fakeQueue is a queue URL of the right shape; nothing is ever sent to it.
const fakeQueue = "https://sqs.us-east-1.amazonaws.com/123456789012/"

// Functions are agentq's functions, with what the stack gives each at init.
var Functions = []Function{
	{"invoke", "./functions/invoke", []string{"AGENTQ_TABLE=t", "AGENTQ_QUEUE_URL=" + fakeQueue + "work",
		"AGENTQ_WEBHOOK_QUEUE_URL=" + fakeQueue + "webhooks", "AGENTQ_KMS_KEY_ID=alias/agentq"}},
	{"poll", "./functions/poll", []string{"AGENTQ_TABLE=t", "AGENTQ_KMS_KEY_ID=alias/agentq"}},
	{"worker", "./functions/worker", []string{"AGENTQ_TABLE=t", "AGENTQ_QUEUE_URL=" + fakeQueue + "work",
		"AGENTQ_DLQ_ARN=arn:aws:sqs:us-east-1:123456789012:work-dlq", "AGENTQ_KMS_KEY_ID=alias/agentq"}},
	{"stream", "./functions/stream", []string{"AGENTQ_TABLE=t", "AGENTQ_QUEUE_URL=" + fakeQueue + "work",
		"AGENTQ_KMS_KEY_ID=alias/agentq"}},
	{"sweeper", "./functions/sweeper", []string{"AGENTQ_TABLE=t", "AGENTQ_QUEUE_URL=" + fakeQueue + "work"}},
	{"trigger", "./functions/trigger", []string{"AGENTQ_TABLE=t", "AGENTQ_QUEUE_URL=" + fakeQueue + "work",
		"AGENTQ_TRIGGER_DLQ_URL=" + fakeQueue + "trigger-dlq"}},
	{"notify", "./functions/notify", []string{"AGENTQ_TABLE=t", "AGENTQ_EVENT_BUS=agentq",
		"AGENTQ_WEBHOOK_QUEUE_URL=" + fakeQueue + "webhooks"}},
	{"deliver", "./functions/deliver", []string{"AGENTQ_TABLE=t", "AGENTQ_WEBHOOK_QUEUE_URL=" + fakeQueue + "webhooks",
		"AGENTQ_WEBHOOK_DLQ_URL=" + fakeQueue + "webhooks-dlq", "AGENTQ_KMS_KEY_ID=alias/agentq"}},
}

// Minimal is the floor: an aws-lambda-go handler that does nothing.
var Minimal = Function{Name: "minimal", Package: "./test/coldstart/minimal"}
