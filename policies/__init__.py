"""Conduct policies: schema, loader, decision engine and the default policy files."""
