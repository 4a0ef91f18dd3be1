"""Op-table rows for the activation family."""
OPS = []
