// Package apigw is the API Gateway edge: it serves an http.Handler to API Gateway, accepting both
// the HTTP API (payload 2.0) and the REST API (payload 1.0) event formats so that one function
// works behind either. Neither API has a gateway authorizer: the handler checks every request's
// API key itself (httpapi), so what it trusts never comes from the event.
package apigw

import (
	"context"
	"errors"

	"net/http"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// Adapter turns API Gateway events into calls of an http.Handler.
type Adapter struct {
	v1 *httpadapter.HandlerAdapter
	v2 *httpadapter.HandlerAdapterV2
}

// New returns an adapter for h.
func New(h http.Handler) *Adapter {
	return &Adapter{v1: httpadapter.New(h), v2: httpadapter.NewV2(h)}
}

// Handle serves one event of either payload format and answers in the same format.
func (a *Adapter) Handle(ctx context.Context, req *core.SwitchableAPIGatewayRequest) (*core.SwitchableAPIGatewayResponse, error) {
	if v2 := req.Version2(); v2 != nil {
		resp, err := a.v2.ProxyWithContext(ctx, *v2)
		if err != nil {
			return nil, err
		}
		return core.NewSwitchableAPIGatewayResponseV2(&resp), nil
	}
	v1 := req.Version1()
	if v1 == nil {
		return nil, errors.New("apigw: event is neither payload format 1.0 nor 2.0")
	}
	resp, err := a.v1.ProxyWithContext(ctx, *v1)
	if err != nil {
		return nil, err
	}
	return core.NewSwitchableAPIGatewayResponseV1(&resp), nil
}
