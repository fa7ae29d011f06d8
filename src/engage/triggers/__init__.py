"""Triggers: firing modes and the threshold index."""
