# Runs the bot as an unprivileged user; the SQLite database lives on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/newsbot.sqlite3 \
    MPLCONFIGDIR=/var/cache/matplotlib

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /app newsbot \
    && mkdir -p /data "$MPLCONFIGDIR" && chown newsbot /data "$MPLCONFIGDIR"

USER newsbot
# matplotlib (/stats) needs a writable cache folder, or it makes a temporary one and
# warns on every start; built here, its font list costs the first /stats nothing.
RUN python -c "import matplotlib.font_manager"
VOLUME ["/data"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["newsbot"]
