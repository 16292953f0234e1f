"""Accounts: users, roles, passwords, browser sessions, API tokens, throttling, audit."""
