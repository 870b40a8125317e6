"""Webhook delivery: signing, URL safety, the retry policy and the dispatcher that drains the outbox."""
