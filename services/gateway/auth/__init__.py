"""Gateway authentication (API keys, OIDC bearer tokens) and tenant isolation."""
