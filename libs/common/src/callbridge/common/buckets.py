"""JetStream key-value bucket names: the only store callbridge has."""

CALLS = "callbridge_calls"
AGENTS = "callbridge_agents"
TELEPHONY_CONFIGS = "callbridge_telephony_configs"

ALL = (CALLS, AGENTS, TELEPHONY_CONFIGS)
