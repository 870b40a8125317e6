# Slim production image: migrate -> seed -> serve. Set HEP_DATABASE_URL (PostgreSQL) and HEP_SECRET_KEY.
# The code stays in /srv/hep (installed editable) because migrations and the exercise catalogue are read
# from beside the package. Files belong to root and are read-only for the unprivileged runtime user.
#
#   docker build -t hep .
#   docker run --rm --env-file hep.env hep sh -c 'hep migrate && hep seed'      # once per release
#   docker run -d --env-file hep.env -e HEP_DISPATCHER=off -p 8000:8000 hep hep serve   # API replicas
#   docker run -d --env-file hep.env --no-healthcheck hep \
#     hep worker --metrics-port 9100 --metrics-host 0.0.0.0                      # webhook workers
#
# With no command it migrates, seeds and serves (one instance). docs/deployment.md has the whole set-up;
# this file has not been built on the development machine (no container engine there).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEP_ENV=prod HEP_HOST=0.0.0.0 HEP_PORT=8000
RUN useradd --system --uid 10001 --no-create-home hep
WORKDIR /srv/hep
COPY pyproject.toml README.md alembic.ini ./
COPY alembic ./alembic
COPY exercises ./exercises
COPY app ./app
RUN pip install --no-cache-dir -e .
USER hep
# 8000: the API (and /metrics); 9100: `hep worker --metrics-port 9100`.
EXPOSE 8000 9100
HEALTHCHECK --interval=30s --timeout=3s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["sh", "-c", "hep migrate && hep seed && exec hep serve"]
