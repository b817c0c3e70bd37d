package table

import (
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// S returns a string attribute value.
func S(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

// N returns a number attribute value.
func N(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// StampLayout is RFC 3339 in UTC with all nine fractional digits. Stamps are fixed width
// (RFC3339Nano drops trailing zeros) so that they sort as text in time order: the index sort keys
// are built from them.
const StampLayout = "2006-01-02T15:04:05.000000000Z"

// Stamp formats t for an item; the zero time is the empty string, which omitempty leaves out.
func Stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(StampLayout)
}

// ParseStamp reads a stamp back; the empty string is the zero time. It accepts any RFC 3339 time,
// so items written before stamps were fixed width still read.
func ParseStamp(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}
