package signing

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks / Svix reference libraries' test vector (svix-webhooks tests, e.g. the PHP
// library's testSignFunctionWorks).
const (
	vectorSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTimestamp = 1614265330
	vectorPayload   = `{"test": 2432232314}`
	vectorSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignVector(t *testing.T) {
	for _, secret := range []string{vectorSecret, strings.TrimPrefix(vectorSecret, SecretPrefix)} {
		key, err := ParseSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		if got := Sign(key, vectorMsgID, time.Unix(vectorTimestamp, 0), []byte(vectorPayload)); got != vectorSignature {
			t.Errorf("Sign = %s, want %s", got, vectorSignature)
		}
	}
	h := http.Header{}
	h.Set(HeaderID, vectorMsgID)
	h.Set(HeaderTimestamp, "1614265330")
	// Other schemes and bad entries before the good one are skipped.
	h.Set(HeaderSignature, "v1a,abc v1,bm9wZQ== v1,!!! "+vectorSignature)
	if err := Verify(vectorSecret, h, []byte(vectorPayload), time.Unix(vectorTimestamp+10, 0), 0); err != nil {
		t.Fatalf("Verify of the reference vector: %v", err)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSecret()
	if a == b || !strings.HasPrefix(a, SecretPrefix) {
		t.Fatalf("secrets %q, %q", a, b)
	}
	key, err := ParseSecret(a)
	if err != nil || len(key) != SecretBytes {
		t.Fatalf("ParseSecret(NewSecret()) = %d bytes, %v", len(key), err)
	}
}

func TestParseSecret(t *testing.T) {
	tests := []struct {
		name, secret string
		bytes        int
	}{
		{"prefixed", vectorSecret, 24},
		{"bare", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24},
		{"unpadded", SecretPrefix + base64.RawStdEncoding.EncodeToString(make([]byte, 17)), 17},
		{"sixteen bytes", SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 16)), 16},
		{"too short", SecretPrefix + base64.StdEncoding.EncodeToString(make([]byte, 15)), 0},
		{"empty", "", 0},
		{"prefix only", SecretPrefix, 0},
		{"not base64", "whsec_not*base64*at*all*!!!!!!!!", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := ParseSecret(tt.secret)
			if tt.bytes == 0 {
				if !errors.Is(err, ErrInvalidSecret) {
					t.Fatalf("err = %v, want ErrInvalidSecret", err)
				}
				if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
					t.Fatalf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil || len(key) != tt.bytes {
				t.Fatalf("= %d bytes, %v; want %d", len(key), err, tt.bytes)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	key, _ := ParseSecret(vectorSecret)
	other, _ := NewSecret()
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"type":"task.completed"}`)
	signed := func(ts time.Time, b []byte) http.Header {
		h := http.Header{}
		SetHeaders(h, [][]byte{key}, "msg_1", ts, b)
		return h
	}
	tests := []struct {
		name      string
		secret    string
		header    http.Header
		body      []byte
		tolerance time.Duration
		want      error
	}{
		{"good", vectorSecret, signed(now, body), body, 0, nil},
		{"good at the edge of the tolerance", vectorSecret, signed(now.Add(-5*time.Minute), body), body, 0, nil},
		{"tampered body", vectorSecret, signed(now, body), []byte(`{"type":"task.failed"}`), 0, ErrVerification},
		{"wrong secret", other, signed(now, body), body, 0, ErrVerification},
		{"old timestamp", vectorSecret, signed(now.Add(-6*time.Minute), body), body, 0, ErrVerification},
		{"future timestamp", vectorSecret, signed(now.Add(6*time.Minute), body), body, 0, ErrVerification},
		{"old for a tighter tolerance", vectorSecret, signed(now.Add(-2*time.Minute), body), body, time.Minute, ErrVerification},
		{"no headers", vectorSecret, http.Header{}, body, 0, ErrVerification},
		{"bad secret", "whsec_short", signed(now, body), body, 0, ErrInvalidSecret},
		{"timestamp not a number", vectorSecret, func() http.Header {
			h := signed(now, body)
			h.Set(HeaderTimestamp, "yesterday")
			return h
		}(), body, 0, ErrVerification},
		{"another message id", vectorSecret, func() http.Header {
			h := signed(now, body)
			h.Set(HeaderID, "msg_2")
			return h
		}(), body, 0, ErrVerification},
		{"only other schemes", vectorSecret, func() http.Header {
			h := signed(now, body)
			h.Set(HeaderSignature, "v1a,"+strings.TrimPrefix(h.Get(HeaderSignature), "v1,"))
			return h
		}(), body, 0, ErrVerification},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.secret, tt.header, tt.body, now, tt.tolerance)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSignHeaders(t *testing.T) {
	k1, k2 := []byte("0123456789abcdef"), []byte("fedcba9876543210")
	h := http.Header{}
	ts := time.Unix(1_700_000_000, 0)
	SetHeaders(h, [][]byte{k1, k2}, "msg_x", ts, []byte("{}"))
	want := Sign(k1, "msg_x", ts, []byte("{}")) + " " + Sign(k2, "msg_x", ts, []byte("{}"))
	if got := h.Get(HeaderSignature); got != want {
		t.Errorf("signature = %q, want %q", got, want)
	}
	for name, want := range map[string]string{
		HeaderID: "msg_x", HeaderTimestamp: "1700000000", "Content-Type": "application/json", "User-Agent": UserAgent,
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for _, k := range [][]byte{k1, k2} {
		if err := Verify(FormatSecret(k), h, []byte("{}"), ts, 0); err != nil {
			t.Errorf("Verify with one of the keys: %v", err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("msg_1", "1700000000", vectorSignature, []byte(vectorPayload))
	f.Add("", "x", "v1,", []byte{})
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if err := Verify(vectorSecret, h, body, time.Unix(1_700_000_000, 0), 0); err == nil {
			// Only a genuine signature may pass.
			key, _ := ParseSecret(vectorSecret)
			if !strings.Contains(sig, strings.TrimPrefix(Sign(key, id, parseUnix(ts), body), "v1,")) {
				t.Fatalf("Verify accepted a forged signature %q", sig)
			}
		}
	})
}

func parseUnix(s string) time.Time {
	n, _ := strconv.ParseInt(s, 10, 64)
	return time.Unix(n, 0)
}
