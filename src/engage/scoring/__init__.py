"""Scores: points per event, caps, clamp and decay."""
