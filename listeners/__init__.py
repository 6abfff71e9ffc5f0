"""Platform adapters that turn API payloads into normalised messages."""
