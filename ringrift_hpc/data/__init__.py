"""Training data on disk: selfplay shards (`shards`), reading them from a run (`shard_store`)."""
