"""Op-table rows for the loss family."""
OPS = []
