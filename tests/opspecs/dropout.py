"""Op-table rows for the dropout family."""
OPS = []
