package table

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestStamp(t *testing.T) {
	if s := Stamp(time.Time{}); s != "" {
		t.Errorf("Stamp(zero) = %q, want empty", s)
	}
	if got, err := ParseStamp(""); err != nil || !got.IsZero() {
		t.Errorf("ParseStamp(\"\") = %v, %v; want zero", got, err)
	}
	tm := time.Date(2026, 2, 7, 13, 0, 0, 5, time.FixedZone("X", 3600))
	if s := Stamp(tm); s != "2026-02-07T12:00:00.000000005Z" {
		t.Errorf("stamp = %q, want UTC with nanoseconds", s)
	}
}

// TestStampsSortAsText: the index sort keys are stamps, so they must sort as text in time order,
// even within one second (RFC3339Nano would drop trailing zeros and break this).
func TestStampsSortAsText(t *testing.T) {
	base := time.Date(2026, 2, 7, 2, 13, 5, 0, time.UTC)
	times := []time.Time{base, base.Add(100 * time.Millisecond), base.Add(120 * time.Millisecond), base.Add(500 * time.Millisecond), base.Add(time.Second)}
	stamps := make([]string, len(times))
	for i, tm := range times {
		stamps[i] = Stamp(tm)
	}
	if !slices.IsSorted(stamps) {
		t.Errorf("stamps of increasing times do not sort as text: %q", stamps)
	}
}

func TestValues(t *testing.T) {
	if s, ok := S("a").(*types.AttributeValueMemberS); !ok || s.Value != "a" {
		t.Errorf("S(a) = %#v", S("a"))
	}
	if n, ok := N(-42).(*types.AttributeValueMemberN); !ok || n.Value != "-42" {
		t.Errorf("N(-42) = %#v", N(-42))
	}
}
