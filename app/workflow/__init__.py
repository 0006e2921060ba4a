"""The running envelope: send, the ordered cascade, recipient links and sessions, lifecycle."""
