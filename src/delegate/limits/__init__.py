"""Limits on model calls: budgets, rate limits, prices and the meter that applies them."""
