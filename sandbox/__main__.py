"""`python -m sandbox`: serve the sandbox on 127.0.0.1:SANDBOX_PORT (threaded)."""

from __future__ import annotations

import logging
import os

from sandbox import create_app
from sandbox.config import load_dotenv_for_development
from sandbox.state import EXTENSION

# The control API is unauthenticated: 127.0.0.1 unless told otherwise (docker compose
# binds its private network with SANDBOX_HOST=0.0.0.0 and publishes no port).
HOST = "127.0.0.1"


def main() -> None:
    load_dotenv_for_development()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    port = app.extensions[EXTENSION].config.port
    app.run(host=os.environ.get("SANDBOX_HOST", HOST), port=port, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
