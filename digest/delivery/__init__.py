"""Delivery: getting messages to inboxes."""
