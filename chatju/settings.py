"""Access to the running app's settings."""

from __future__ import annotations

from flask import current_app

from chatju.config import Settings


def current_settings() -> Settings:
    settings: Settings = current_app.extensions["chatju.settings"]
    return settings
