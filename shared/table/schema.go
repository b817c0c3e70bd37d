package table

// The table's physical layout. The CDK stack and the local runner both build the table from these
// names, so the deployed table and the emulated one can never drift apart.
const (
	// AttrPK is the partition key of every item.
	AttrPK = "pk"
	// AttrSK is the sort key of every item.
	AttrSK = "sk"
	// AttrExpiresAt holds the item's expiry in Unix seconds; DynamoDB's TTL deletes it some time after.
	AttrExpiresAt = "expires_at"
)

// Index describes a global secondary index whose keys are string attributes.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
	// Projection is what the index copies of an item. Every write that changes a copied attribute
	// of an indexed item is also a write to the index, billed as one; with KeysOnly only a write
	// that changes the index's keys is, and with Include only one that changes the keys or
	// an attribute in NonKeyAttributes.
	Projection Projection
	// NonKeyAttributes are the attributes an Include projection copies besides the keys.
	NonKeyAttributes []string
}

// Projection is a DynamoDB index projection type.
type Projection string

// The projections the table's indexes use.
const (
	ProjectAll      Projection = "ALL"
	ProjectKeysOnly Projection = "KEYS_ONLY"
	ProjectInclude  Projection = "INCLUDE"
)

// TenantListAttributes are what by_tenant copies besides its keys: the task attributes a list
// filters on that never change once the task is accepted (the agent, the thread, the family,
// the user, the ServiceNet caller and invoke mode, the record's expiry). Because none of them
// changes, a task's transitions are no index writes: only its first write is. A list filters on
// them in the index, and on what does change (state, a receipt's verdict) in the items it reads
// back (DESIGN.md, "Cost per task").
var TenantListAttributes = []string{
	"agent_id", "thread_id", "parent_task_id", "triggering_agent_id", "user_id",
	"caller_agent_id", "caller_public_id", "sync", AttrExpiresAt,
}

// Indexes lists the table's global secondary indexes.
var Indexes = []Index{
	// Tasks of a tenant, newest first: partition "TENANT#<tenant>", sort "<created_at>#<task id>".
	// Also a tenant's API keys and the agents' head records, which their lists read back.
	{Name: IndexTenant, PartitionKey: "gsi1pk", SortKey: "gsi1sk", Projection: ProjectInclude, NonKeyAttributes: TenantListAttributes},
	// Turns of a conversation in order: partition "THREAD#<tenant>#<thread>", sort "<created_at>#<task id>".
	// Keys only: a turn's writes after it is recorded are no index writes; a conversation's reader
	// reads the turns it names.
	{Name: "by_thread", PartitionKey: "gsi2pk", SortKey: "gsi2sk", Projection: ProjectKeysOnly},
	// Tasks the sweeper watches, oldest first: partition "ACTIVE#<shard>", sort
	// "<created_at>#<task id>". Sparse: a task enters it only when the sweeper's walk of
	// by_created finds it still in flight (queued or running) StaleAfter after it was created, or
	// when it is resumed from paused, and leaves it when it pauses or ends; so the sweeper reads
	// again only the few tasks that outlive StaleAfter. Keys only, and keyed by what never changes
	// while a task is in flight: a task's writes between entering and leaving it are not index
	// writes (DESIGN.md, "Lost messages (sweeper)").
	{Name: IndexActive, PartitionKey: "gsi3pk", SortKey: "gsi3sk", Projection: ProjectKeysOnly},
	// Sub-tasks of a task, oldest first: partition "PARENT#<tenant>#<parent task id>", sort
	// "<created_at>#<task id>". Sparse: only tasks with a parent are in it, so deleting a task
	// finds its sub-tasks without reading the tenant's other tasks.
	{Name: IndexParent, PartitionKey: "gsi4pk", SortKey: "gsi4sk", Projection: ProjectAll},
	// Tasks by creation, oldest first: partition "CREATED#<shard>", sort "<created_at>#<task id>"
	// (gsi3sk, the sort key by_active shares). Entered once, when a task is recorded queued, and
	// never changed: no transition is an index write, and TTL's delete of the task removes the
	// entry. The sweeper walks it forward once, StaleAfter behind the clock.
	{Name: IndexCreated, PartitionKey: "gsi5pk", SortKey: "gsi3sk", Projection: ProjectKeysOnly},
}

// IndexTenant is the index of a tenant's tasks, newest first, that lists read.
const IndexTenant = "by_tenant"

// IndexParent is the sparse index of sub-tasks by their parent task.
const IndexParent = "by_parent"

// IndexActive is the sparse index of the tasks the sweeper watches: those still in flight when its
// walk of IndexCreated passed them.
const IndexActive = "by_active"

// IndexCreated is the insert-only index of tasks by creation that the sweeper walks.
const IndexCreated = "by_created"

// ActiveShards is how many partitions the by_active and by_created indexes spread their entries
// over, so that the writes entering them do not all land on one index partition.
const ActiveShards = 8
