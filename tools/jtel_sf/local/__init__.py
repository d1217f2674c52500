"""The local stand-in of an org with the endpoint deployed: SQLite store and HTTP server."""
