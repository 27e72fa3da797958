"""Where a webhook acknowledgement's time goes: pyinstrument over signed Stripe events, in one process.

    .venv/bin/python -m bench.profile_ack [--events 2000] [--save docs/profiles/ack.txt | --html FILE]

The app in production mode on a database and Redis prefix of its own (removed afterwards),
driven through the Flask test client, so the profile holds our code and the libraries, not
gunicorn's socket work. Prints the call tree; --save writes it to a file too, and --html
writes pyinstrument's interactive view (several MB: not for the repository).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from pyinstrument import Profiler

from bench import stack
from bench.webhooks import stripe_line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--html", type=Path)
    parser.add_argument("--save", type=Path, help="write the call tree (text) here as well")
    args = parser.parse_args()
    with stack.run_resources("profile") as (_, url, prefix), tempfile.TemporaryDirectory() as tmp:
        os.environ.update(stack.production_env(url, prefix, Path(tmp) / "instance"))
        from chatju import create_app
        from chatju.extensions import db

        app = create_app()
        client = app.test_client()
        lines = [stripe_line(stack.KEYS["STRIPE_WEBHOOK_SECRET"], int(time.time())) for _ in range(args.events + 50)]
        requests = [line.split("\t") for line in lines]

        def post(target: str, name: str, value: str, body: str) -> None:
            response = client.post(target, data=body, headers={name: value, "Content-Type": "application/json"})
            assert response.status_code == 200, response.get_data(as_text=True)  # noqa: S101

        for request in requests[:50]:
            post(*request)
        profiler = Profiler(interval=0.0005)
        started, cpu = time.perf_counter(), time.process_time()
        with profiler:
            for request in requests[50:]:
                post(*request)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(
            f"{args.events} events in {elapsed:.2f} s: {elapsed / args.events * 1000:.2f} ms each, one thread; "
            f"CPU time in this process {cpu / args.events * 1000:.2f} ms each (steadier on a busy machine)"
        )
        tree = profiler.output_text(unicode=True, color=False, show_all=os.environ.get("PROFILE_ALL") == "1")
        print(tree)
        if args.save:
            args.save.parent.mkdir(parents=True, exist_ok=True)
            header = f"python -m bench.profile_ack --events {args.events} ({stack.machine()})\n"
            args.save.write_text(header + tree)
        if args.html:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            args.html.write_text(profiler.output_html())
        with app.app_context():
            db.engine.dispose()


if __name__ == "__main__":
    main()
