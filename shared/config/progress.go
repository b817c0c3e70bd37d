package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// MinProgressKey is the shortest progress key accepted, in bytes.
const MinProgressKey = 32

// loadProgress reads the progress key and the URL agents send progress to. Either alone is
// refused: tokens nobody can use, or a URL whose tokens nobody can check.
func (c *Config) loadProgress(getenv func(string) string) error {
	key, base := getenv(EnvProgressKey), strings.TrimRight(getenv(EnvStreamURL), "/")
	if key == "" && base == "" {
		return nil
	}
	if key == "" || base == "" {
		return fmt.Errorf("%s and %s are set together", EnvProgressKey, EnvStreamURL)
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) < MinProgressKey {
		return fmt.Errorf("%s: must be base64 of at least %d bytes", EnvProgressKey, MinProgressKey)
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: must be an http(s) URL", EnvStreamURL)
	}
	c.ProgressKey, c.StreamURL = raw, base
	return nil
}
