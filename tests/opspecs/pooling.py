"""Op-table rows for the pooling family."""
OPS = []
