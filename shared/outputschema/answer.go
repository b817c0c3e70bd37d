package outputschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
)

// The answer is handed to the validator as these types, whose String methods print a short
// placeholder: the validator's error messages print the value that failed (%v), and an answer of
// megabytes printed once per failed branch would be a budget of its own. Objects and arrays print
// their kind; strings their first bytes. The validator reads them by kind, as it reads
// map[string]any, []any and string.
type (
	object map[string]any
	array  []any
	text   string
)

func (object) String() string { return "{...}" }
func (array) String() string  { return "[...]" }

// String quotes the string's first bytes.
func (t text) String() string {
	const show = 32
	if len(t) <= show {
		return strconv.Quote(string(t))
	}
	return strconv.Quote(string(t[:show])) + "..."
}

// errNotJSON means the answer is not one JSON value.
var errNotJSON = errors.New("the answer is not JSON")

// decodeJSON parses one JSON value, numbers as json.Number.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("more than one JSON value")
	}
	return v, nil
}

// decodeAnswer parses an answer into the validator's types (see object), refusing a number
// outside float64's range (see finite).
func decodeAnswer(b []byte) (any, error) {
	v, err := decodeJSON(b)
	if err != nil {
		return nil, errNotJSON
	}
	out, ok := convert(v)
	if !ok {
		return nil, errors.New("the answer has a number outside the range of a 64-bit float")
	}
	return out, nil
}

// convert turns a decoded value into the validator's types, numbers as float64.
func convert(v any) (any, bool) {
	switch v := v.(type) {
	case json.Number:
		if !finite(v) {
			return nil, false
		}
		f, _ := strconv.ParseFloat(string(v), 64)
		return f, true
	case string:
		return text(v), true
	case map[string]any:
		o := make(object, len(v))
		for k, x := range v {
			c, ok := convert(x)
			if !ok {
				return nil, false
			}
			o[k] = c
		}
		return o, true
	case []any:
		a := make(array, len(v))
		for i, x := range v {
			c, ok := convert(x)
			if !ok {
				return nil, false
			}
			a[i] = c
		}
		return a, true
	}
	return v, true
}

// finite reports whether n is a number float64 holds, written with an exponent of at most
// maxExponent: exact arithmetic on a number such as 1e999999999 fails, and on 1e-99999999 runs
// for long.
func finite(n json.Number) bool {
	if _, err := strconv.ParseFloat(string(n), 64); err != nil {
		return false
	}
	s := strings.ToLower(string(n))
	if i := strings.IndexByte(s, 'e'); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		return err == nil && e >= -maxExponent && e <= maxExponent
	}
	return true
}

// maxExponent bounds the exponent written in a number: float64's range is within 1e±324.
const maxExponent = 400
