#!/bin/sh
# Runs a command line the way `make run` runs a Procfile line: through /bin/sh, so that
# ${PORT:-8000} and friends take their values from the container's environment, and with exec,
# so the process is PID 1 and gets docker's SIGTERM (uvicorn and Celery then stop gracefully).
# The words are joined with spaces: quote nothing inside them.
set -e
exec /bin/sh -c "exec $*"
