"""Subscribers: sign-up, preferences, unsubscribing, and the signed links that reach them."""
