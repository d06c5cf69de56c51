"""Curation: finding, reviewing and deciding on items."""
