"""Contact state."""
