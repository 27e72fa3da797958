"""Operator commands: `flask --app wsgi auth|payments|webhooks ...`."""
