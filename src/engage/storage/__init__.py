"""Durability: snapshots, the event log, recovery and reloads."""
