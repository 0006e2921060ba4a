# Cachet against an external PostgreSQL: docker run -e CACHET_DATABASE_URL=postgresql+asyncpg://…
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CACHET_ENV=production \
    CACHET_HOST=0.0.0.0 \
    CACHET_PORT=8000 \
    CACHET_DATA_DIR=/var/lib/cachet \
    CACHET_MIGRATE_ON_START=true

WORKDIR /srv/cachet
RUN useradd --system --home-dir /var/lib/cachet --create-home cachet
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# Editable, so the service finds alembic.ini and migrations/ beside the package.
RUN pip install --no-cache-dir -e .

USER cachet
VOLUME ["/var/lib/cachet"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz')" || exit 1
CMD ["cachet", "serve"]
