"""Observability: the Prometheus metrics every process counts, and `GET /metrics` that adds them up.

- `metrics`: the metric families and the small functions the domain code calls to count.
- `multiprocess`: where each process writes its counts, so the web app can read the workers'.
- `database`: the counts the database knows exactly, read at scrape time.
- `routes`: the `/metrics` blueprint.
"""
