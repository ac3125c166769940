# The API, its Celery worker and beat share this image (compose.yaml picks the command).
# Build: docker build -t brand-community .    Run everything: docker compose up --wait

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /venv
COPY requirements.lock /tmp/requirements.lock
# Exactly the pinned, hash-checked packages of production (no test tools).
RUN /venv/bin/pip install --require-hashes -r /tmp/requirements.lock

FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLASK_APP=wsgi \
    BIND=0.0.0.0:8000 \
    MEDIA_ROOT=/data/media \
    DATA_EXPORT_ROOT=/data/exports
RUN useradd --system --uid 10001 --create-home --home-dir /home/community community \
    && mkdir -p /data/media /data/exports /app/instance \
    && chown -R community:community /data /app
COPY --from=build /venv /venv
WORKDIR /app
COPY --chown=community:community api ./api
COPY --chown=community:community jobs ./jobs
COPY --chown=community:community kernel ./kernel
COPY --chown=community:community forum ./forum
COPY --chown=community:community c2b ./c2b
COPY --chown=community:community economy ./economy
COPY --chown=community:community moderation ./moderation
COPY --chown=community:community operations ./operations
COPY --chown=community:community migrations ./migrations
COPY --chown=community:community wsgi.py worker.py gunicorn.conf.py ./
USER community
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=2)"
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
