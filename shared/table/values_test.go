package table

import (
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestStampSortsAsTextInTimeOrder(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	times := []time.Time{base, base.Add(time.Millisecond), base.Add(100 * time.Millisecond), base.Add(time.Nanosecond), base.Add(time.Second)}
	stamps := make([]string, len(times))
	for i, tm := range times {
		stamps[i] = Stamp(tm)
	}
	sorted := append([]string(nil), stamps...)
	sort.Strings(sorted)
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i, tm := range times {
		if sorted[i] != Stamp(tm) {
			t.Fatalf("stamps sort %v, times sort to %v", sorted, times)
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))} {
		got, err := ParseStamp(Stamp(tm))
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(tm) {
			t.Errorf("ParseStamp(Stamp(%v)) = %v", tm, got)
		}
	}
	if Stamp(time.Time{}) != "" {
		t.Errorf("zero time stamps as %q, want empty", Stamp(time.Time{}))
	}
	if _, err := ParseStamp("yesterday"); err == nil {
		t.Error("ParseStamp accepted a non-time")
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
