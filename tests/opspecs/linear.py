"""Op-table rows for the linear family."""
OPS = []
