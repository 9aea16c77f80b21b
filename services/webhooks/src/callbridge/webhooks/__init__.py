"""callbridge webhooks service: REST API and provider webhooks."""
