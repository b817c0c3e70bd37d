package table

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestIsTask(t *testing.T) {
	keys := func(pk, sk string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{AttrPK: S(pk), AttrSK: S(sk)}
	}
	for _, tc := range []struct {
		name string
		keys map[string]types.AttributeValue
		want bool
	}{
		{"task", keys(TaskPartition("t-1"), TaskSortKey), true},
		{"thread", keys("THREAD#acme#th", "THREAD"), false},
		{"task partition, other sort key", keys(TaskPartition("t-1"), "DELIVERY#d"), false},
		{"number key", map[string]types.AttributeValue{AttrPK: N(1), AttrSK: S(TaskSortKey)}, false},
		{"no keys", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsTask(tc.keys); got != tc.want {
				t.Errorf("IsTask = %v, want %v", got, tc.want)
			}
		})
	}
}
