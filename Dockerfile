# One image for web, worker and beat; the command picks the process. It holds the
# runtime only: requirements.txt, and no sandbox, tests or benchmarks (.dockerignore).
# CHATJU_ENV is not set here: docker-compose.yml (or the deployment) sets it.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 chatju \
    && useradd --system --uid 10001 --gid chatju --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin chatju

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The code stays owned by root (read-only to the service); only instance/
# (development mail, generated JWT key, SQLite files) is writable.
COPY . .
RUN mkdir -p instance && chown chatju:chatju instance

USER chatju
EXPOSE 8000

# Threaded workers: payment create and confirm may wait for their task.
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "8", "wsgi:app"]
