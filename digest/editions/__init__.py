"""Editions: one issue of a newsletter. For now, when each newsletter next goes out."""
