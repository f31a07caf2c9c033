"""The learning core: encoding, action codec, symmetries, network, batched search, players."""
