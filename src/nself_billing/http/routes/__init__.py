"""Route groups of the HTTP service; each handler parses, calls one service, renders."""
