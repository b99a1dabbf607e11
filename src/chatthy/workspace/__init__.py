"""Workspace documents: where they come from (sources) and what is asked of them (templates)."""
