"""Gunicorn settings: JSON log lines like the app's (the app logs each request itself), metrics hooks."""

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "chatju.logs.RedactingJsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    # The app (chatju.logs) puts its own JSON handler on the root logger.
    "root": {"level": "INFO", "handlers": []},
    "loggers": {
        "gunicorn.error": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
    },
}

# One fixed control socket per user would clash between instances (make run, the tests).
control_socket_disable = True


def on_starting(server: object) -> None:
    """Before any worker: the metrics directory every worker inherits, cleared if no process still counts."""
    from chatju.config import settings_or_exit
    from chatju.observability import multiprocess

    multiprocess.prepare_main_process(settings_or_exit().instance_dir)


def child_exit(server: object, worker: object) -> None:
    """A worker died: its live gauges go with it (prometheus-client multiprocess mode)."""
    from chatju.observability import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
