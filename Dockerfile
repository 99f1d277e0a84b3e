# highperf container image: compile the single binary, then run it alone on a slim base.
#
#   docker build -t highperf .
#   docker run --rm -p 3000:3000 -v highperf-data:/data highperf
#
# Not built or run in this project's CI (no Docker engine there); the binary it ships is the one
# test/binary.test.ts starts alone in an empty directory.

# --- build: Bun compiles src/ + the worker entry + the Swagger UI assets into one executable ---
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
# The orchestrator should probe GET /healthz (liveness) and GET /readyz (readiness, 503 while
# draining); the slim base has no curl, so there is no HEALTHCHECK here. `docker stop` sends
# SIGTERM: highperf drains in-flight requests (SHUTDOWN_TIMEOUT, default 5s, below Docker's 10s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/highperf"]
