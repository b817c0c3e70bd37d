package lambdaevents_test

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/batch"
	"github.com/agentq/agentq/shared/lambdaevents"
)

func TestFromStreamImage(t *testing.T) {
	in := map[string]events.DynamoDBAttributeValue{
		"s": events.NewStringAttribute("x"), "n": events.NewNumberAttribute("12"), "b": events.NewBinaryAttribute([]byte{1}),
		"t": events.NewBooleanAttribute(true), "z": events.NewNullAttribute(), "ss": events.NewStringSetAttribute([]string{"a"}),
		"ns": events.NewNumberSetAttribute([]string{"1"}), "bs": events.NewBinarySetAttribute([][]byte{{2}}),
		"l": events.NewListAttribute([]events.DynamoDBAttributeValue{events.NewStringAttribute("e")}),
		"m": events.NewMapAttribute(map[string]events.DynamoDBAttributeValue{"k": events.NewNumberAttribute("1")}),
	}
	out, err := lambdaevents.FromStreamImage(in)
	if err != nil {
		t.Fatal(err)
	}
	if out["s"].(*types.AttributeValueMemberS).Value != "x" || out["n"].(*types.AttributeValueMemberN).Value != "12" ||
		!out["t"].(*types.AttributeValueMemberBOOL).Value || out["l"].(*types.AttributeValueMemberL).Value[0].(*types.AttributeValueMemberS).Value != "e" ||
		out["m"].(*types.AttributeValueMemberM).Value["k"].(*types.AttributeValueMemberN).Value != "1" || len(out) != len(in) {
		t.Errorf("converted: %+v", out)
	}
}

func TestDynamoDB(t *testing.T) {
	rec := func(seq, name string, image map[string]events.DynamoDBAttributeValue) events.DynamoDBEventRecord {
		return events.DynamoDBEventRecord{EventName: name, Change: events.DynamoDBStreamRecord{SequenceNumber: seq,
			Keys: map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute("TASK#" + seq)}, NewImage: image}}
	}
	ok := map[string]events.DynamoDBAttributeValue{"state": events.NewStringAttribute("succeeded")}
	tests := []struct {
		name      string
		recs      []events.DynamoDBEventRecord
		retryFrom string // what the handler answers
		wantSeen  int
		want      string
	}{
		{"all handled", []events.DynamoDBEventRecord{rec("1", "MODIFY", ok), rec("2", "REMOVE", nil)}, "", 2, ""},
		{"the handler's failure", []events.DynamoDBEventRecord{rec("1", "MODIFY", ok), rec("2", "MODIFY", ok)}, "2", 2, "2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen []batch.StreamRecord
			h := lambdaevents.DynamoDB(func(_ context.Context, recs []batch.StreamRecord) (string, error) {
				seen = recs
				return tt.retryFrom, nil
			})
			resp, err := h(context.Background(), events.DynamoDBEvent{Records: tt.recs})
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(resp.BatchItemFailures) == 1 {
				got = resp.BatchItemFailures[0].ItemIdentifier
			}
			if got != tt.want || len(resp.BatchItemFailures) > 1 {
				t.Errorf("failures = %+v, want from %q", resp.BatchItemFailures, tt.want)
			}
			if len(seen) != tt.wantSeen {
				t.Fatalf("handler saw %d records, want %d", len(seen), tt.wantSeen)
			}
			if s := seen[0]; s.Sequence != "1" || s.Removed || s.NewImage["state"].(*types.AttributeValueMemberS).Value != "succeeded" ||
				s.Keys["pk"].(*types.AttributeValueMemberS).Value != "TASK#1" {
				t.Errorf("record = %+v", s)
			}
			if tt.wantSeen == 2 && tt.recs[1].EventName == "REMOVE" && !seen[1].Removed {
				t.Error("a REMOVE record did not read as removed")
			}
		})
	}
}
