"""Agent backends: who speaks on the call (a serverWebSocket server, or a built-in agent)."""
