package dispatch

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
)

// TenantHeader carries the caller's tenant on every request to an agent about a task (HTTP, A2A;
// Call, Check, Cancel: see Credentials), so a shared agent can keep its tenants apart. Lambda and
// HTTP agents also find it in the request's "tenant".
const TenantHeader = "X-Agentq-Tenant"

// TenantMetadata is the A2A message metadata key that carries the caller's tenant.
const TenantMetadata = "agentq_tenant"

// ConversationID is the id an agent knows a thread by (A2A contextId, an HTTP or Lambda agent's
// thread_id): derived from the tenant and the caller's thread id, so two tenants that choose the
// same thread id never meet in an agent that keys its memory on it. It is a hash, with the
// tenant's length in front so no tenant and thread pair can spell another's; tenants cannot
// name an agent's conversation themselves (see the agent_envelope rules), so the mapping need not
// be secret. Empty when thread is.
func ConversationID(tenant, thread string) string {
	if thread == "" {
		return ""
	}
	h := sha256.New()
	h.Write([]byte("agentq conversation\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(tenant)))
	h.Write(n[:])
	h.Write([]byte(tenant))
	h.Write([]byte(thread))
	return "ctx-" + base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:24])
}
