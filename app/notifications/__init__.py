"""Email to people: what each notification says (content) and how it leaves (mailer)."""
