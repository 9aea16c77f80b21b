"""callbridge media service."""
