"""Client core and user interfaces."""
