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

// Index describes a global secondary index whose keys are string attributes and whose projection
// is ALL.
type Index struct {
	Name         string
	PartitionKey string
	SortKey      string
}

// Indexes lists the table's global secondary indexes.
var Indexes = []Index{
	// Tasks of a tenant, newest first: partition "TENANT#<tenant>", sort "<created_at>#<task id>".
	{Name: "by_tenant", PartitionKey: "gsi1pk", SortKey: "gsi1sk"},
	// Turns of a conversation in order: partition "THREAD#<tenant>#<thread>", sort "<created_at>#<task id>".
	{Name: "by_thread", PartitionKey: "gsi2pk", SortKey: "gsi2sk"},
	// Tasks in flight (queued or running), least recently written first: partition
	// "ACTIVE#<shard>", sort "<updated_at>#<task id>". Sparse: a task leaves it when it pauses or
	// ends, so the sweeper reads only tasks that could have lost their message.
	{Name: IndexActive, PartitionKey: "gsi3pk", SortKey: "gsi3sk"},
	// Sub-tasks of a task, oldest first: partition "PARENT#<tenant>#<parent task id>", sort
	// "<created_at>#<task id>". Sparse: only tasks with a parent are in it, so deleting a task
	// finds its sub-tasks without reading the tenant's other tasks.
	{Name: IndexParent, PartitionKey: "gsi4pk", SortKey: "gsi4sk"},
}

// IndexParent is the sparse index of sub-tasks by their parent task.
const IndexParent = "by_parent"

// IndexActive is the sparse index of tasks in flight that the sweeper reads.
const IndexActive = "by_active"

// ActiveShards is how many partitions the by_active index spreads its entries over, so that every
// task write touching it does not land on one index partition.
const ActiveShards = 8
