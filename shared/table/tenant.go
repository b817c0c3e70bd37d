package table

import "strings"

// TenantKey joins a prefix, a tenant and an id into one key ("THREAD#<tenant>#<id>"). The tenant
// comes before the id and never holds the '#' separator (tenant names exclude it, and the key
// escapes '%' and '#' should one ever get through), so no tenant and id can spell another
// tenant's key: tenant "a" with thread "b#c" is "THREAD#a#b#c", and tenant "a#b" would be
// "THREAD#a%23b#c".
func TenantKey(prefix, tenant, id string) string {
	return TenantPartition(prefix, tenant) + "#" + id
}

// TenantPartition is a tenant's key under a prefix ("TENANT#<tenant>"), escaped as TenantKey's.
func TenantPartition(prefix, tenant string) string {
	return prefix + "#" + tenantEscaper.Replace(tenant)
}

var tenantEscaper = strings.NewReplacer("%", "%25", "#", "%23")
