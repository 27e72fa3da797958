"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from chatju import create_app
from chatju.config import settings_or_exit

settings_or_exit()  # fail fast, in one line, before anything else starts
app = create_app()
