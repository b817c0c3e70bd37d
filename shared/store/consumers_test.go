package store_test

import (
	"github.com/agentq/agentq/shared/accept"
	"github.com/agentq/agentq/shared/httpapi"
	"github.com/agentq/agentq/shared/notify"
	"github.com/agentq/agentq/shared/store"
	"github.com/agentq/agentq/shared/sweeper"
	"github.com/agentq/agentq/shared/worker"
)

// The services and edges declare the narrow store interfaces they use and never import this
// package; these checks keep the task store fitting every one of them.
var (
	_ accept.Store         = (*store.Store)(nil)
	_ accept.RequestStager = (*store.Store)(nil)
	_ worker.Store         = (*store.Store)(nil)
	_ worker.RequestLoader = (*store.Store)(nil)
	_ sweeper.Store        = (*store.Store)(nil)
	_ notify.Tasks         = (*store.Store)(nil)
	_ httpapi.Reader       = (*store.Store)(nil)
	_ httpapi.ReceiptStore = (*store.Store)(nil)
	_ httpapi.Resolver     = (*store.Store)(nil)
	_ httpapi.Stopper      = (*store.Store)(nil)
	_ httpapi.Lister       = (*store.Store)(nil)
	_ httpapi.Threads      = (*store.Store)(nil)
)
