package apigw_test

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"os"
	"path/filepath"
	"testing"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
)

// FuzzHandle feeds any bytes to the event decoding the Lambda runtime does, then to Handle over the
// real API: no panic, and an event that is handled is answered in its own format, never with a 500.
func FuzzHandle(f *testing.F) {
	files, err := filepath.Glob("../../events/apigw-*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample events (%v)", err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"rawQueryString":"","requestContext":{"http":{"method":"GET","path":"/v1/receipts/x"}}}`))
	f.Add([]byte(`{"multiValueQueryStringParameters":null,"httpMethod":"POST","path":"/v1/agents/a/invoke-async","body":"{}"}`))
	f.Add([]byte(`{"rawQueryString":"a=%zz","rawPath":"/v1/tasks/%zz","isBase64Encoded":true,"body":"!!"}`))
	// The proxy library logs every event it cannot convert; that is noise here.
	log.SetOutput(io.Discard)
	adapter := apiAdapter()

	f.Fuzz(func(t *testing.T, raw []byte) {
		var req core.SwitchableAPIGatewayRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return
		}
		v1, v2 := req.Version1(), req.Version2()
		if (v1 == nil) == (v2 == nil) {
			t.Fatalf("decoded event is v1 %v and v2 %v", v1 != nil, v2 != nil)
		}
		resp, err := adapter.Handle(context.Background(), &req)
		if err != nil {
			return // not convertible to an HTTP request; the runtime reports the error
		}
		var status int
		switch {
		case v2 != nil && resp.Version2() != nil && resp.Version1() == nil:
			status = resp.Version2().StatusCode
		case v1 != nil && resp.Version1() != nil && resp.Version2() == nil:
			status = resp.Version1().StatusCode
		default:
			t.Fatalf("event v2=%v answered in the other format: %+v", v2 != nil, resp)
		}
		if status == 500 || status == 0 {
			t.Fatalf("answered %d to %s", status, raw)
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("answer does not marshal: %v", err)
		}
	})
}
