"""Sorted indexes and the queries they answer."""
