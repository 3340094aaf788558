# One image for every role: `dispatcher worker`, `dispatcher serve`, `dispatcher sandbox`, and
# the operator commands (`docker compose run --rm worker status`). See docs/deployment.md.
#
# Build stage: install the package (no dev extras) into a virtual environment that the runtime
# stage copies whole, so no build tool or source tree ends up in the image. Every dependency
# ships manylinux wheels for CPython 3.11 (hiredis, uvloop, orjson, pydantic-core, aiohttp), so
# no compiler is needed.
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY dispatcher ./dispatcher
RUN /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/dispatcher --help >/dev/null

FROM python:3.11.13-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# A fixed numeric uid/gid, so orchestrators that check runAsNonRoot can tell it is not root.
RUN groupadd --system --gid 10001 dispatcher \
    && useradd --system --uid 10001 --gid dispatcher --home-dir /app --create-home \
       --shell /usr/sbin/nologin dispatcher
COPY --from=build /opt/venv /opt/venv
# The settings file is read from config/dispatcher.toml relative to the working directory
# (or $DISPATCHER_CONFIG): mount it at /app/config/dispatcher.toml. /app is the user's home and
# writable by it (e.g. `dispatcher export ... -o /app/out.csv` into a mounted folder).
WORKDIR /app
USER 10001:10001
# No HEALTHCHECK here: the same image runs a worker, the HTTP service or the sandbox, and each
# needs a different probe; docker-compose.yml sets one per service (`/healthz` for the API, a
# Celery ping of the container's own worker for workers).
ENTRYPOINT ["dispatcher"]
CMD ["--help"]
