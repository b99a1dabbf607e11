"""Wire protocol shared by client and server."""
