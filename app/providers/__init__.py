"""Third-party providers behind small protocols (SMS now; identity checks and remote signing
next): the service's only outbound HTTP besides webhooks, through httpx."""
