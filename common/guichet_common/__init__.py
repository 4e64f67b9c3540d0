"""Code shared by every Guichet service and the gateway. No entrypoints live here."""
