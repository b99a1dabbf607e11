"""Model providers behind one interface: ``Provider.stream``."""
