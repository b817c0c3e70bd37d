package dispatch

import (
	"errors"
	"net/url"
	"regexp"
)

// urlPattern finds URLs in an error's text: net/http's *url.Error quotes the request URL after
// rewriting its password to "***", so the agent's endpoint no longer appears verbatim and cannot
// be found by comparing with it.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// arnAccount finds the account id of an ARN (arn:partition:service:region:account:...).
var arnAccount = regexp.MustCompile(`(arn:[A-Za-z0-9-]+:[A-Za-z0-9-]+:[A-Za-z0-9-]*:)[0-9]{12}(:)`)

// Redact returns msg with every URL cut to its scheme, host and path (no userinfo, query or
// fragment, which may hold credentials) and every ARN's account id hidden. Agent call errors
// reach tasks, webhooks and events, so nothing about an agent's endpoint beyond where it is may
// pass.
func Redact(msg string) string {
	msg = urlPattern.ReplaceAllStringFunc(msg, func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "[url]"
		}
		clean := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return clean.String() + "?…"
		}
		return clean.String()
	})
	return arnAccount.ReplaceAllString(msg, "${1}************${2}")
}

// redacted returns err with the message of every *Error, *NeedsInput text aside, passed through
// Redact. Other errors are returned as they are: they do not reach callers.
func redacted(err error) error {
	var e *Error
	if errors.As(err, &e) {
		e.Message = Redact(e.Message)
	}
	return err
}
