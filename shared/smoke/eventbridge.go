package smoke

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// EventBridgeAPI is the part of the EventBridge API the check uses.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Source is the source of the events the check puts: any but agentq's own and aws.*, which the
// trigger refuses.
const Source = "agentq.smoke"

// DetailTypeInvoke is the detail-type the trigger's rule matches.
const DetailTypeInvoke = "Invoke Agent"

// EventBridge puts the event on the stack's bus (the EventBusName output) with the caller's AWS
// credentials.
type EventBridge struct {
	API EventBridgeAPI
	Bus string
}

var _ EventPutter = (*EventBridge)(nil)

// PutInvokeEvent puts one Invoke Agent event and fails when EventBridge refuses it.
func (e *EventBridge) PutInvokeEvent(ctx context.Context, detail []byte) error {
	out, err := e.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(e.Bus),
		Source:       aws.String(Source),
		DetailType:   aws.String(DetailTypeInvoke),
		Detail:       aws.String(string(detail)),
	}}})
	if err != nil {
		return fmt.Errorf("put event on %s: %w", e.Bus, err)
	}
	if out.FailedEntryCount > 0 {
		for _, en := range out.Entries {
			if en.ErrorCode != nil {
				return fmt.Errorf("put event on %s: %s: %s", e.Bus, aws.ToString(en.ErrorCode), aws.ToString(en.ErrorMessage))
			}
		}
		return fmt.Errorf("put event on %s: refused", e.Bus)
	}
	return nil
}
