"""Lifecycle commands: history, show, ack, stats, prune (being built: issue 3)."""
