"""Getting every accepted message answered exactly once: queues, leases, workers, the dispatcher."""
