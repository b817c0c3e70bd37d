package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/agentq/agentq/shared/authctx"
)

// AuthContexts creates, reads and deletes auth contexts (authctx.Store does). No method returns a
// secret: the routes cannot answer one.
type AuthContexts interface {
	Create(ctx context.Context, tenant string, in authctx.Input) (authctx.Context, error)
	Get(ctx context.Context, tenant, id string) (authctx.Context, error)
	Delete(ctx context.Context, tenant, id string) error
}

// authContextBody is the body of POST /v1/auth-contexts.
type authContextBody struct {
	Tenant string       `json:"tenant"`
	Name   string       `json:"name"`
	Kind   authctx.Kind `json:"kind"`
	Header string       `json:"header"`
	Secret string       `json:"secret"`
}

func authContextInvalid(msg string) error {
	return &apiError{http.StatusUnprocessableEntity, "validation_failed", msg}
}

// invalidInput turns an authctx.ErrInvalid into the 422 it is; its text never holds the secret.
func invalidInput(err error) error {
	msg := strings.ReplaceAll(err.Error(), authctx.ErrInvalid.Error()+": ", "")
	return authContextInvalid(strings.ReplaceAll(strings.TrimPrefix(msg, "create auth context: "), "\n", "; "))
}

// decodeAuthContext reads the body strictly. Its errors name fields and JSON types, never a
// value: the body holds a secret.
func decodeAuthContext(body []byte) (authContextBody, error) {
	var in authContextBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(&in)
	if err == nil && dec.Decode(&struct{}{}) != io.EOF {
		err = errors.New("trailing data")
	}
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return in, nil
	case errors.As(err, &te) && te.Field != "":
		return in, authContextInvalid(te.Field + ": want a string")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return in, authContextInvalid("unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ") + ": want tenant, name, kind, header and secret")
	}
	return in, authContextInvalid("the body must be one JSON object: {tenant, name, kind, header, secret}")
}

// createAuthContext stores a tenant's credential and answers it without its secret.
func (a *api) createAuthContext(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, err := decodeAuthContext(body)
	if err != nil {
		return err
	}
	input := authctx.Input{Name: in.Name, Kind: in.Kind, Header: in.Header, Secret: in.Secret}
	if err := errors.Join(authctx.ValidateTenant(in.Tenant), input.Validate()); err != nil {
		return invalidInput(err)
	}
	c, err := a.AuthContexts.Create(r.Context(), in.Tenant, input)
	if errors.Is(err, authctx.ErrInvalid) {
		return invalidInput(err)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, c)
	return nil
}

// authContextTenant reads the tenant that owns the context the path names: ?tenant=, once.
func authContextTenant(r *http.Request) (string, error) {
	vs := r.URL.Query()["tenant"]
	if len(vs) != 1 {
		return "", authContextInvalid("tenant: give the tenant that owns the auth context, once: ?tenant=")
	}
	if err := authctx.ValidateTenant(vs[0]); err != nil {
		return "", invalidInput(err)
	}
	return vs[0], nil
}

func (a *api) getAuthContext(w http.ResponseWriter, r *http.Request) error {
	tenant, err := authContextTenant(r)
	if err != nil {
		return err
	}
	c, err := a.AuthContexts.Get(r.Context(), tenant, r.PathValue("auth_context_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

// deleteAuthContext removes a context and answers it as it was. Tasks accepted with it that have
// not run yet will find it gone.
func (a *api) deleteAuthContext(w http.ResponseWriter, r *http.Request) error {
	tenant, err := authContextTenant(r)
	if err != nil {
		return err
	}
	id := r.PathValue("auth_context_id")
	c, err := a.AuthContexts.Get(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	if err := a.AuthContexts.Delete(r.Context(), tenant, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}
