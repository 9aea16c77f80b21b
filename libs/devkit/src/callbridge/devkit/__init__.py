"""callbridge developer kit: CLI, provider simulators and test agents."""
