// Package table is the single DynamoDB table's schema and the attribute helpers its writers share:
// key and index names, table creation for the emulators and the tests, and the string, number and
// timestamp encodings every item uses. The CDK stack, the local runner, the task store and the
// other stores of the table (tenants' webhooks, API keys, agents, auth contexts) all build on it,
// so their items can never disagree on a key name or a timestamp format.
package table
