package keystore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/agentq/agentq/shared/apikey"
	"github.com/agentq/agentq/shared/tenantlimit"
)

// fakeDB keeps items by pk in memory: enough of DynamoDB for the store.
type fakeDB struct {
	mu    sync.Mutex
	items map[string]map[string]types.AttributeValue
	gets  int
	fail  error
}

func newFakeDB() *fakeDB { return &fakeDB{items: map[string]map[string]types.AttributeValue{}} }

func s(av types.AttributeValue) string {
	if v, ok := av.(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (f *fakeDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.fail != nil {
		return nil, f.fail
	}
	if it, ok := f.items[s(in.Key["pk"])+"|"+s(in.Key["sk"])]; ok { // an item PutItem wrote
		return &dynamodb.GetItemOutput{Item: it}, nil
	}
	return &dynamodb.GetItemOutput{Item: f.items[s(in.Key["pk"])]}, nil
}

func (f *fakeDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it := f.items[s(in.Key["pk"])]
	if it == nil {
		return nil, errors.New("condition failed")
	}
	for name, attr := range in.ExpressionAttributeNames {
		value := map[string]string{"#r": ":t", "#at": ":at"}[name]
		it[attr] = in.ExpressionAttributeValues[value]
	}
	return &dynamodb.UpdateItemOutput{}, nil
}

func (f *fakeDB) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []map[string]types.AttributeValue
	for _, it := range f.items {
		if s(it["gsi1pk"]) == s(in.ExpressionAttributeValues[":pk"]) {
			// by_tenant copies none of a key's attributes: only the keys are listed.
			out = append(out, map[string]types.AttributeValue{"pk": it["pk"], "sk": it["sk"], "gsi1pk": it["gsi1pk"], "gsi1sk": it["gsi1sk"]})
		}
	}
	return &dynamodb.QueryOutput{Items: out}, nil
}

func (f *fakeDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]map[string]types.AttributeValue{}}
	for name, ka := range in.RequestItems {
		for _, k := range ka.Keys {
			it, ok := f.items[s(k["pk"])+"|"+s(k["sk"])]
			if !ok {
				it, ok = f.items[s(k["pk"])]
			}
			if ok {
				out.Responses[name] = append(out.Responses[name], it)
			}
		}
	}
	return out, nil
}

func (f *fakeDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items[s(in.Item["pk"])+"|"+s(in.Item["sk"])] = in.Item
	return &dynamodb.PutItemOutput{}, nil
}

func (f *fakeDB) DeleteItem(_ context.Context, in *dynamodb.DeleteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.items, s(in.Key["pk"])+"|"+s(in.Key["sk"]))
	return &dynamodb.DeleteItemOutput{}, nil
}

func (f *fakeDB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ti := range in.TransactItems {
		if f.items[s(ti.Put.Item["pk"])] != nil {
			return nil, errors.New("condition failed")
		}
	}
	for _, ti := range in.TransactItems {
		f.items[s(ti.Put.Item["pk"])] = ti.Put.Item
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

func TestCreateListRevoke(t *testing.T) {
	db := newFakeDB()
	configured, _ := apikey.Parse("default:" + apikey.Hash("configured"))
	st := New(db, "tasks", 0).WithConfigured(configured)
	ctx := context.Background()

	key, rec, err := st.Create(ctx, "acme", "CI")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, KeyPrefix) || rec.ID != apikey.Hash(key)[:IDLength] || rec.Tenant != "acme" {
		t.Fatalf("Create = %q, %+v", key, rec)
	}
	for pk, it := range db.items {
		for _, av := range it {
			if strings.Contains(s(av), key) || strings.Contains(pk, key) {
				t.Fatalf("the key is stored in the clear in %s", pk)
			}
		}
	}
	if tenant, ok := st.Tenant(key); !ok || tenant != "acme" {
		t.Fatalf("Tenant(new) = %q, %v", tenant, ok)
	}
	if tenant, ok := st.Tenant("configured"); !ok || tenant != "default" {
		t.Fatalf("Tenant(configured) = %q, %v", tenant, ok)
	}
	for _, k := range []string{"", "nope", apikey.Hash(key)} {
		if _, ok := st.Tenant(k); ok {
			t.Errorf("Tenant(%q) accepted", k)
		}
	}

	list, err := st.List(ctx, "acme")
	if err != nil || len(list) != 1 || list[0].ID != rec.ID || list[0].Name != "CI" || list[0].Revoked {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if other, err := st.List(ctx, "globex"); err != nil || len(other) != 0 {
		t.Fatalf("List(other) = %+v, %v", other, err)
	}

	got, err := st.Revoke(ctx, rec.ID)
	if err != nil || !got.Revoked || got.RevokedAt == nil {
		t.Fatalf("Revoke = %+v, %v", got, err)
	}
	if _, ok := st.Tenant(key); ok {
		t.Fatal("a revoked key is accepted")
	}
	if again, err := st.Revoke(ctx, rec.ID); err != nil || !again.Revoked {
		t.Fatalf("Revoke again = %+v, %v", again, err)
	}
	if list, _ := st.List(ctx, "acme"); len(list) != 1 || !list[0].Revoked {
		t.Fatalf("List after revoke = %+v", list)
	}
	for _, id := range []string{"ffffffffffffffff", "x", strings.ToUpper(rec.ID), rec.ID + "0"} {
		if _, err := st.Revoke(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Revoke(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestValidate(t *testing.T) {
	st := New(newFakeDB(), "tasks", 0)
	for _, c := range []struct{ tenant, name string }{{"", "n"}, {"t", ""}, {"t\x00", "n"}, {strings.Repeat("t", 257), "n"}, {"t", "\xff"}, {"bad tenant!", "n"}, {"a#b", "n"}, {strings.Repeat("t", MaxTenantBytes+1), "n"}} {
		if _, _, err := st.Create(context.Background(), c.tenant, c.name); !errors.Is(err, ErrInvalid) {
			t.Errorf("Create(%q, %q) = %v, want ErrInvalid", c.tenant, c.name, err)
		}
	}
	if _, err := st.List(context.Background(), ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("List(\"\") = %v", err)
	}
}

func TestCache(t *testing.T) {
	db := newFakeDB()
	st := New(db, "tasks", time.Minute)
	now := time.Unix(1_800_000_000, 0)
	st.now = func() time.Time { return now }
	key, rec, err := st.Create(context.Background(), "acme", "CI")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, ok := st.Tenant(key); !ok {
			t.Fatal("refused")
		}
	}
	if db.gets != 1 {
		t.Fatalf("%d reads for three lookups, want 1", db.gets)
	}
	// Misses are cached too, so guessing costs no reads.
	st.Tenant("guess")
	st.Tenant("guess")
	if db.gets != 2 {
		t.Fatalf("%d reads, want 2", db.gets)
	}
	// Revoking here drops this instance's entry at once.
	if _, err := st.Revoke(context.Background(), rec.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Tenant(key); ok {
		t.Fatal("revoked key accepted from the cache")
	}
	// A failed read refuses and is not cached.
	db.fail = errors.New("throttled")
	fresh := "aq_fresh"
	if _, ok := st.Tenant(fresh); ok {
		t.Fatal("accepted on a failed read")
	}
	db.fail = nil
	gets := db.gets
	st.Tenant(fresh)
	if db.gets != gets+1 {
		t.Fatal("a failed read was cached")
	}
	// Entries expire.
	gets = db.gets
	now = now.Add(2 * time.Minute)
	st.Tenant("guess")
	if db.gets != gets+1 {
		t.Fatal("an expired entry was used")
	}
}

func TestRandomFailure(t *testing.T) {
	st := New(newFakeDB(), "tasks", 0)
	st.random = func([]byte) (int, error) { return 0, errors.New("no entropy") }
	if _, _, err := st.Create(context.Background(), "acme", "CI"); err == nil {
		t.Fatal("created a key without randomness")
	}
}

func TestTenantLimits(t *testing.T) {
	st := New(newFakeDB(), "tasks", 0)
	ctx := context.Background()
	if _, ok, err := st.TenantLimits(ctx, "acme"); ok || err != nil {
		t.Fatalf("limits of a tenant with none = %v, %v", ok, err)
	}
	if err := st.SetTenantLimits(ctx, "acme", &tenantlimit.Limits{Rate: 5, MaxInFlight: 50}); err != nil {
		t.Fatal(err)
	}
	l, ok, err := st.TenantLimits(ctx, "acme")
	if err != nil || !ok || l != (tenantlimit.Limits{Rate: 5, MaxInFlight: 50}) {
		t.Fatalf("TenantLimits = %+v, %v, %v", l, ok, err)
	}
	if _, ok, _ := st.TenantLimits(ctx, "globex"); ok {
		t.Error("another tenant has acme's limits")
	}
	if err := st.SetTenantLimits(ctx, "acme", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.TenantLimits(ctx, "acme"); ok {
		t.Error("removed limits are still there")
	}
	for _, bad := range []struct {
		tenant string
		l      tenantlimit.Limits
	}{{"a#b", tenantlimit.Limits{}}, {"acme", tenantlimit.Limits{Rate: -1}}} {
		if err := st.SetTenantLimits(ctx, bad.tenant, &bad.l); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetTenantLimits(%q, %+v) = %v, want ErrInvalid", bad.tenant, bad.l, err)
		}
	}
}
