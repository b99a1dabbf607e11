"""The chatthy server."""
