# syntax=docker/dockerfile:1
# One image for every Frisk role: `frisk serve` (the default), `frisk dashboard`,
# `frisk db upgrade` (migrations, a one-shot), and the batch jobs (`frisk train`, `frisk retrain`).
#
#   make image                      # builds frisk:latest and frisk:<version> on this machine
#   docker build -t frisk .         # anywhere a registry is reachable (BuildKit)
#
# BASE_IMAGE is any image with python3 >= 3.11 and its venv module: by default the official slim
# Python image; `make image` passes a local Debian bookworm + python3 (debootstrap) when no
# registry is reachable. Configuration only through FRISK_* variables and mounted files;
# secrets from files (FRISK_DATABASE_URL_FILE, see docs/DEPLOY.md). Nothing secret and no data
# is baked in.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/frisk
# The dependencies first, from pyproject.toml alone, so that a change to the code reuses this
# layer. The CA bundle is a build secret (mounted for this step only, never in a layer); without
# one pip uses its own. The pip cache is a cache mount: it never reaches an image either.
COPY pyproject.toml README.md ./
RUN --mount=type=secret,id=ca,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && /opt/frisk/bin/pip install -r /tmp/requirements.txt
COPY src ./src
RUN --mount=type=secret,id=ca,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/frisk/bin/pip install --no-deps . \
    && /opt/frisk/bin/frisk --help >/dev/null

FROM ${BASE_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# LightGBM needs OpenMP's runtime: the debootstrap base has it, the official slim image does not.
# hadolint ignore=DL3008
RUN if ! ldconfig -p | grep -q 'libgomp\.so\.1'; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 frisk \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/frisk --no-create-home \
        --shell /usr/sbin/nologin frisk \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/frisk
COPY --from=build /opt/frisk /opt/frisk
COPY deploy/docker/healthcheck.py /usr/local/lib/frisk/healthcheck.py
ENV PATH=/opt/frisk/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FRISK_HOME=/var/lib/frisk \
    FRISK_SERVICE__HOST=0.0.0.0 \
    FRISK_SERVICE__PORT=8000 \
    MPLCONFIGDIR=/tmp/matplotlib
WORKDIR /var/lib/frisk
VOLUME ["/var/lib/frisk"]
USER 10001:10001
EXPOSE 8000 8501
# /health of the API; the dashboard's container sets HEALTHCHECK_URL to Streamlit's own.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python3", "/usr/local/lib/frisk/healthcheck.py"]
ENTRYPOINT ["frisk"]
CMD ["serve"]
