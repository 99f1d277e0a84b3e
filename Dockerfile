# highperf container image: compile the single binary, then run it alone on a slim base.
#
#   docker build -t highperf .
#   docker volume create highperf-data
#   docker run -d --name highperf -p 3000:3000 -v highperf-data:/data --cpus 2 highperf
#   docker inspect --format '{{.State.Health.Status}}' highperf      # healthy once /readyz is 200
#   docker exec -e API_TOKEN=… highperf highperf backup --to /data/backup-$(date +%F)
#
# Not built or run in this project's CI (no Docker engine there); the binary it ships is the one
# test/binary.test.ts starts alone in an empty directory.

# --- build: Bun compiles src/ + the worker entry + the Swagger UI and queue dashboard (bull-board) UI files into one executable ---
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
COPY tsconfig.json ./
COPY scripts ./scripts
COPY src ./src
RUN bun run build && ./dist/highperf --version

# --- run: glibc + the binary, as an unprivileged user ---
FROM debian:bookworm-slim
# /data belongs to the user before VOLUME: a new named volume is initialised from the image's
# directory, owner included, so the non-root server can write to it.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin highperf \
 && mkdir -p /data /public && chown highperf:highperf /data
COPY --from=build /src/dist/highperf /usr/local/bin/highperf
USER highperf
WORKDIR /data
ENV HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    FILES_DIR=/public
VOLUME ["/data"]
EXPOSE 3000
# The slim base has no curl: the binary probes itself. `highperf healthcheck` asks GET /readyz of
# the server these settings start (PORT, HOST 0.0.0.0 -> 127.0.0.1): exit 0 ready, 1 otherwise
# (503 while starting or draining), one line, its own 2s timeout (docs/operations.md).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/highperf", "healthcheck"]
# `docker stop` sends SIGTERM: highperf drains in-flight requests (SHUTDOWN_TIMEOUT, default 5s,
# below Docker's 10s). SIGUSR1 reopens an ACCESS_LOG file (log rotation).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/highperf"]
