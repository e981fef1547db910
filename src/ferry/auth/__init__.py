"""Who may do what: bearer tokens, roles, the principal a request acts as, signed links."""
