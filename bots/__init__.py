"""Carry out decisions on each platform through the outbox."""
