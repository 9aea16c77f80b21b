"""The provider REST clients' shared interface and plumbing; each client is in its provider's sub-package."""
