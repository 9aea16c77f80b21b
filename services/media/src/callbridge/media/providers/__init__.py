"""Provider media-stream protocols, one module per provider."""
