"""Op-table rows for the normalization family."""
OPS = []
