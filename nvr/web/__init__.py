"""HTTP: the JSON API (and, later, the pages)."""
