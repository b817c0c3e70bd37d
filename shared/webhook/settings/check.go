package settings

import (
	"context"
	"fmt"
)

// CheckWebhook tells whether the tenant's deliveries to rawURL can be made and signed: the URL's
// shape and literal address (CheckURL, with loopback as WithLoopback set it), then a signing
// secret, the tenant's own or the operator's. The accept core asks it before it takes a
// webhook_url, so that a caller learns at once rather than from a delivery that can never be
// made. It returns an error wrapping ErrInvalidURL, ErrForbiddenURL or ErrNoSecret, or the
// table's error.
func (t *Tenants) CheckWebhook(ctx context.Context, tenant, rawURL string) error {
	if err := CheckURL(rawURL, t.allowLoopback); err != nil {
		return err
	}
	ok, err := t.CanSign(ctx, tenant)
	if err != nil {
		return fmt.Errorf("check signing secret of tenant %s: %w", tenant, err)
	}
	if !ok {
		return fmt.Errorf("tenant %s: %w", tenant, ErrNoSecret)
	}
	return nil
}
