"""Persistent state: the Store protocol and its implementations."""
