"""Provider simulators: stand-ins for the providers, speaking their documented wire protocols."""
