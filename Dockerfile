# Production image: migrations, then uvicorn with several workers against PostgreSQL.
#   docker build -t recyclate .
#   docker run -e RECYCLATE_DATABASE_URL=postgresql+psycopg://user:pass@db/recyclate -p 8000:8000 recyclate
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml requirements.lock README.md ./
COPY app ./app
COPY forecasting ./forecasting
COPY migrations ./migrations
RUN python -m venv /venv && /venv/bin/pip install -c requirements.lock .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /app recyclate
WORKDIR /app
COPY --from=build /venv /venv
COPY migrations ./migrations
COPY alembic.ini ./
ENV PATH=/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    RECYCLATE_ENV=production \
    RECYCLATE_LOG_FORMAT=json \
    RECYCLATE_HOST=0.0.0.0 \
    RECYCLATE_PORT=8000 \
    RECYCLATE_WORKERS=4 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
USER recyclate
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz').status == 200 else 1)"
CMD ["sh", "-c", "mkdir -p $PROMETHEUS_MULTIPROC_DIR && recyclate db upgrade && exec recyclate serve"]
