"""Alerts: webhook signing and the outbox worker that delivers events to webhooks."""
