"""Credits: what a tenant may spend on eIDAS signatures, as a ledger of grants, reservations,
consumptions and releases (never a counter alone)."""
