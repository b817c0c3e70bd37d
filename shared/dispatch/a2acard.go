package dispatch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient/agentcard"

	"github.com/agentq/agentq/shared/a2a03"
	"github.com/agentq/agentq/shared/agent"
	"github.com/agentq/agentq/shared/task"
)

// The A2A version an agent is spoken to in is, in order:
//
//  1. its registry field a2a_version ("1.0" or "0.3"), when set;
//  2. else what its agent card offers: the card at /.well-known/agent-card.json on the
//     endpoint's host, read in either version's shape (a2a03.ParseCard), lists
//     interfaces with a protocol binding and version; of its JSON-RPC interfaces, those at the
//     agent's endpoint count (all of them when none is), and the newest version agentq speaks
//     among them wins: 1.x is spoken as 1.0, 0.x as 0.3;
//  3. else, when the agent has no card (a 4xx answer, or a body that is not a card or names no
//     interface at all), 0.3: it is what agents registered before 1.0 speak, and a 1.0 agent
//     publishes a card.
//
// Requests always go to the registry's endpoint, never to a URL the card names: the card only
// says which version the endpoint speaks. A card that offers JSON-RPC in no version agentq speaks
// fails the call (agent_failed, not retried) rather than guess. A card that cannot be fetched for
// a reason that may mend (5xx, 429, timeout, connection) fails the call as such an answer to the
// call itself would: retryably.
//
// What a card said is kept for cardTTL per endpoint, so a warm worker asks once per agent, not
// once per call; a pinned version costs no card request at all.

// cardTTL is how long a card's version is trusted before the card is read again.
const cardTTL = 5 * time.Minute

// maxCards bounds the remembered cards; past it the memory starts over.
const maxCards = 1024

// errNotACard marks a card answer that could not be read as an agent card.
var errNotACard = errors.New("not an agent card")

// cardVersions finds and remembers the A2A version of agents from their cards.
type cardVersions struct {
	resolver *agentcard.Resolver

	mu    sync.Mutex
	known map[string]cardVersion // by endpoint
}

type cardVersion struct {
	version a2a.ProtocolVersion
	// push and stream say the card declares push notifications and streaming.
	push, stream bool
	at           time.Time
}

func newCardVersions(hc *http.Client) *cardVersions {
	return &cardVersions{
		resolver: &agentcard.Resolver{Client: hc, CardParser: func(b []byte) (*a2a.AgentCard, error) {
			card, err := a2a03.ParseCard(b)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errNotACard, err)
			}
			return card, nil
		}},
		known: map[string]cardVersion{},
	}
}

// version returns the A2A version to speak to agent a (see the comment at the top).
func (cv *cardVersions) version(ctx context.Context, a agent.Agent) (a2a.ProtocolVersion, error) {
	switch a.A2AVersion {
	case agent.A2AVersion1:
		return a2a.Version, nil
	case agent.A2AVersion03:
		return a2a03.Version, nil
	}
	known, err := cv.card(ctx, a)
	return known.version, err
}

// pushes reports whether agent a's card declares push notifications; an agent whose card cannot
// be read is taken not to.
func (cv *cardVersions) pushes(ctx context.Context, a agent.Agent) bool {
	known, err := cv.card(ctx, a)
	return err == nil && known.push
}

// streams reports whether agent a's card declares streaming (SendStreamingMessage).
func (cv *cardVersions) streams(ctx context.Context, a agent.Agent) bool {
	known, err := cv.card(ctx, a)
	return err == nil && known.stream
}

// card answers what agent a's card says, read again when older than cardTTL.
func (cv *cardVersions) card(ctx context.Context, a agent.Agent) (cardVersion, error) {
	now := time.Now()
	cv.mu.Lock()
	known, ok := cv.known[a.Endpoint]
	cv.mu.Unlock()
	if ok && now.Sub(known.at) < cardTTL {
		return known, nil
	}
	v, caps, err := cv.fromCard(ctx, a.Endpoint)
	if err != nil {
		return cardVersion{}, err
	}
	known = cardVersion{version: v, push: caps.PushNotifications, stream: caps.Streaming, at: now}
	cv.mu.Lock()
	if len(cv.known) >= maxCards {
		clear(cv.known)
	}
	cv.known[a.Endpoint] = known
	cv.mu.Unlock()
	return known, nil
}

// fromCard reads the version, and the capabilities, from the card of the agent at endpoint.
func (cv *cardVersions) fromCard(ctx context.Context, endpoint string) (a2a.ProtocolVersion, a2a.AgentCapabilities, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", a2a.AgentCapabilities{}, &Error{Reason: task.ReasonAgentFailed, Message: "bad agent endpoint: not an http(s) URL"}
	}
	card, err := cv.resolver.Resolve(ctx, (&url.URL{Scheme: u.Scheme, Host: u.Host}).String())
	if err != nil {
		if se, ok := errors.AsType[*statusError](err); (ok && !retryableStatus(se.code)) || errors.Is(err, errNotACard) {
			return a2a03.Version, a2a.AgentCapabilities{}, nil // no card: an agent from before 1.0
		}
		f := a2aFailure(err, endpoint)
		if de, ok := errors.AsType[*Error](f); ok {
			de.Message = "reading the agent card: " + de.Message
		}
		return "", a2a.AgentCapabilities{}, f
	}
	if len(card.SupportedInterfaces) == 0 {
		return a2a03.Version, a2a.AgentCapabilities{}, nil // a JSON document, but no card: it names no interface at all
	}
	v, err := cardVersionAt(card, endpoint)
	return v, card.Capabilities, err
}

// cardVersionAt picks the version to speak at endpoint from a card's interfaces.
func cardVersionAt(card *a2a.AgentCard, endpoint string) (a2a.ProtocolVersion, error) {
	var atEndpoint, elsewhere a2a.ProtocolVersion
	offered := []string{}
	for _, iface := range card.SupportedInterfaces {
		if iface == nil || iface.ProtocolBinding != a2a.TransportProtocolJSONRPC {
			continue
		}
		offered = append(offered, string(iface.ProtocolVersion))
		v, ok := spoken(iface.ProtocolVersion)
		if !ok {
			continue
		}
		if sameURL(iface.URL, endpoint) {
			atEndpoint = newer(atEndpoint, v)
		} else {
			elsewhere = newer(elsewhere, v)
		}
	}
	switch {
	case atEndpoint != "":
		return atEndpoint, nil
	case elsewhere != "":
		return elsewhere, nil
	}
	return "", &Error{Reason: task.ReasonAgentFailed, Message: fmt.Sprintf(
		"the agent card offers JSON-RPC in A2A versions [%s]; agentq speaks 1.0 and 0.3 (set the agent's a2a_version to override the card)",
		strings.Join(offered, ", "))}
}

// spoken maps a version a card offers to the one agentq speaks for it, if any.
func spoken(v a2a.ProtocolVersion) (a2a.ProtocolVersion, bool) {
	s := strings.TrimPrefix(string(v), "v")
	switch {
	case s == "1" || strings.HasPrefix(s, "1."):
		return a2a.Version, true
	case strings.HasPrefix(s, "0."):
		return a2a03.Version, true
	}
	return "", false
}

// newer returns the newer of two versions agentq speaks ("" is neither).
func newer(a, b a2a.ProtocolVersion) a2a.ProtocolVersion {
	if a == a2a.Version || b == a2a.Version {
		return a2a.Version
	}
	if a != "" {
		return a
	}
	return b
}

// sameURL compares two endpoint URLs, ignoring a trailing slash.
func sameURL(a, b string) bool {
	return strings.TrimSuffix(a, "/") == strings.TrimSuffix(b, "/")
}
