"""Delivery (SPEC 7): rendering of pushes, Telegram's rate limits, and the outbox drain."""
