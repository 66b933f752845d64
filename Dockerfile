# The production image: LGL Sync alone (`pip install .`, no sandbox), used by every service of
# docker-compose.yml. Each container writes its dagster.yaml (`lgl-sync instance`, Postgres
# storage from DAGSTER_PG_URL) and migrates the control plane before its command runs.
FROM python:3.11-slim
WORKDIR /opt/lgl-sync
COPY pyproject.toml README.md ./
COPY lgl_sync ./lgl_sync
RUN pip install --no-cache-dir . && mkdir -p /opt/dagster/home /opt/dagster/logs
ENTRYPOINT ["sh", "-c", "lgl-sync instance >/dev/null && lgl-sync db upgrade >/dev/null && exec \"$@\"", "--"]
