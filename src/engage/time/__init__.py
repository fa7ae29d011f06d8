"""Time: recency classes, event windows and the timer index."""
