"""Writes and validation: import, export, seed."""
