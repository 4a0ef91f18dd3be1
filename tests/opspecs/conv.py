"""Op-table rows for the conv family."""
OPS = []
