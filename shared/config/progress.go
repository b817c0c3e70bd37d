package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// MinProgressKey is the shortest progress key accepted, in bytes.
const MinProgressKey = 32

// loadProgress reads the progress key and the URL agents send progress to. A key alone is
// refused (tokens nobody can use); a URL alone needs sealing (a seal key or a KMS key), for then
// the key is kept sealed in the task table (progresskey), so no plaintext key is in the
// environment, which is how the stack deploys it.
func (c *Config) loadProgress(getenv func(string) string) error {
	key, base := getenv(EnvProgressKey), strings.TrimRight(getenv(EnvStreamURL), "/")
	if key == "" && base == "" {
		return nil
	}
	switch {
	case base == "":
		return fmt.Errorf("%s needs %s: tokens nobody can use", EnvProgressKey, EnvStreamURL)
	case key == "" && len(c.SealKey) == 0 && c.KMSKeyID == "":
		return fmt.Errorf("%s needs %s, or a KMS key (%s) or seal key to keep one sealed in the table", EnvStreamURL, EnvProgressKey, EnvKMSKeyID)
	}
	var raw []byte
	if key != "" {
		var err error
		raw, err = base64.StdEncoding.DecodeString(key)
		if err != nil || len(raw) < MinProgressKey {
			return fmt.Errorf("%s: must be base64 of at least %d bytes", EnvProgressKey, MinProgressKey)
		}
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: must be an http(s) URL", EnvStreamURL)
	}
	c.ProgressKey, c.StreamURL = raw, base
	return nil
}
