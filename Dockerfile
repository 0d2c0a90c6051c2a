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

# The dependency list alone (with the dashboard extra, now optional, and the redis extra: feature state in Redis is a setting away), so
# that the next stage's cache survives any other change to pyproject.toml.
FROM ${BASE_IMAGE} AS requirements
COPY pyproject.toml /src/
RUN python3 -c 'import tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["redis"] + p["optional-dependencies"]["dashboard"]))' \
        > /requirements.txt

FROM ${BASE_IMAGE} AS deps
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/frisk
# The dependencies first, so that a change to the code reuses this layer (and the runtime
# stage's copy of it). The CA bundle is a build secret: mounted for the pip steps only, in no
# layer of any image; without one pip uses its own. The pip cache is a cache mount and never
# reaches an image either. Test suites shipped inside packages (~130 MB) are dropped.
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN --mount=type=secret,id=ca,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/frisk/bin/pip install -r /tmp/requirements.txt \
    && find /opt/frisk/lib -depth -type d -path '*/site-packages/*/tests' -exec rm -rf {} +

FROM deps AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN --mount=type=secret,id=ca,required=false \
    --mount=type=cache,target=/root/.cache/pip \
    if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi; \
    /opt/frisk/bin/pip wheel --no-deps --wheel-dir /wheels .

FROM ${BASE_IMAGE} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# LightGBM needs OpenMP's runtime: the debootstrap base has it, the official slim image does not.
# DL3008 (pin apt versions) is ignored on purpose: libgomp1 must be the one of the base image's
# own Debian release, whichever that is; a pinned version would break on the next point release.
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
COPY --from=deps /opt/frisk /opt/frisk
# Frisk itself on top, from its wheel (bind-mounted, so not even the wheel stays in a layer).
RUN --mount=type=bind,from=wheel,source=/wheels,target=/tmp/wheels \
    /opt/frisk/bin/pip install --no-deps --no-index --disable-pip-version-check /tmp/wheels/*.whl \
    && /opt/frisk/bin/frisk --help >/dev/null
COPY deploy/docker/healthcheck.py /usr/local/lib/frisk/healthcheck.py
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/frisk-entrypoint
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
ENTRYPOINT ["frisk-entrypoint"]
CMD ["serve"]
