"""Third-party providers behind small protocols (SMS codes, identity checks, remote signing
through CSC v2): the service's only outbound HTTP besides webhooks, through httpx."""
