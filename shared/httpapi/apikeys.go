package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/agentq/agentq/shared/keystore"
)

// APIKeys creates, lists and revokes tenants' API keys (keystore.Store does). Only Create ever
// answers a key, once.
type APIKeys interface {
	Create(ctx context.Context, tenant, name string) (string, keystore.Record, error)
	List(ctx context.Context, tenant string) ([]keystore.Record, error)
	Revoke(ctx context.Context, id string) (keystore.Record, error)
}

// createdKey is the answer of POST /v1/api-keys: the record and, this once, the key.
type createdKey struct {
	keystore.Record
	Key string `json:"key"`
}

func apiKeyInvalid(msg string) error {
	return &apiError{http.StatusUnprocessableEntity, "validation_failed", msg}
}

func apiKeyInputError(err error) error {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, keystore.ErrInvalid.Error()+": "); ok {
		msg = after
	}
	return apiKeyInvalid(msg)
}

func (a *api) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Tenant string `json:"tenant"`
		Name   string `json:"name"`
	}
	if err := decodeStrict(w, r, &in, false, "{tenant, name}, both strings"); err != nil {
		return err
	}
	if err := keystore.Validate(in.Tenant, in.Name); err != nil {
		return apiKeyInputError(err)
	}
	key, rec, err := a.APIKeys.Create(r.Context(), in.Tenant, in.Name)
	if errors.Is(err, keystore.ErrInvalid) {
		return apiKeyInputError(err)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, createdKey{Record: rec, Key: key})
	return nil
}

func (a *api) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	vs := r.URL.Query()["tenant"]
	if len(vs) != 1 {
		return apiKeyInvalid("tenant: give the tenant whose keys to list, once: ?tenant=")
	}
	if err := keystore.Validate(vs[0], "-"); err != nil {
		return apiKeyInputError(err)
	}
	items, err := a.APIKeys.List(r.Context(), vs[0])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
	return nil
}

func (a *api) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	rec, err := a.APIKeys.Revoke(r.Context(), r.PathValue("api_key_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rec)
	return nil
}
