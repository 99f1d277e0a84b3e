#!/bin/bash
# bench/jobs/redis-cpu.sh: CPU time per job of one highperf node and of redis-server, jobs on
# BullMQ/Redis. Starts `bun src/main.ts` from the current directory (WORKERS=1, JOB_CONCURRENCY=32,
# JOBS_URL=redis://127.0.0.1:6379/$REDIS_DB, flushed first), wrk POSTs echo jobs for 5 s with 64
# connections (as bench/jobs/backends.ts), waits up to 20 s for the queue to empty, and prints
# accepted/s, jobs completed, node and Redis CPU seconds (utime+stime of all threads, /proc) and the
# EVALSHA calls (commandstats reset at the start). A queue that does not drain prints "left N" and
# the node's /status/json (how the pool stall fixed in src/pool/supervisor.ts was found).
# Extra ENV=value arguments go to the node.
#
# Usage: REDIS_DB=9 bash bench/jobs/redis-cpu.sh [label] [ENV=value ...]
set -u
LABEL=${1:-run}; shift $(( $# > 0 ? 1 : 0 ))
DB=${REDIS_DB:-13}; PORT=${PORT:-18391}
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
redis-cli -n "$DB" flushdb >/dev/null
printf 'wrk.method = "POST"\nwrk.body = %s\nwrk.headers["Content-Type"] = "application/json"\n' "'{\"task\":\"echo\",\"input\":{\"value\":1}}'" > "$OUT/post.lua"
env "$@" PORT=$PORT HOST=127.0.0.1 DATA_DIR="$OUT/data" JOBS_URL=redis://127.0.0.1:6379/$DB WORKERS=1 RATE_LIMIT_RPS=0 ACCESS_LOG=off LOG_LEVEL=error JOB_QUEUE_LIMIT=10000000 JOB_CONCURRENCY=32 bun src/main.ts 2>"$OUT/stderr" &
PID=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:$PORT/health >/dev/null && break; sleep 0.2; done
sleep 1
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
RP=$(pgrep -x redis-server || pgrep -f 'redis-server' | head -1)
n0=$(cpu $PID); r0=$(cpu "$RP")
redis-cli config resetstat >/dev/null
RPS=$(wrk -t1 -c64 -d5s -s "$OUT/post.lua" http://127.0.0.1:$PORT/jobs | awk '/Requests\/sec/{print $2}')
W=0
for _ in $(seq 80); do W=$(redis-cli -n "$DB" zcard bull:highperf:prioritized); [ "$W" = 0 ] && break; sleep 0.25; done
n1=$(cpu $PID); r1=$(cpu "$RP")
C=$(redis-cli -n "$DB" zcard bull:highperf:completed)
EVAL=$(redis-cli info commandstats | awk -F'[=,]' '/cmdstat_evalsha/{print $2}')
[ "$W" != 0 ] && { echo "left $W"; curl -s http://127.0.0.1:$PORT/status/json; echo; }
kill -TERM $PID; wait $PID 2>/dev/null
us() { echo "scale=0; ($1) * 10000 / $C" | bc; }
echo "$LABEL accepted/s=$RPS completed=$C node_cpu_us_per_job=$(us "$n1-$n0") redis_cpu_us_per_job=$(us "$r1-$r0") evalsha_per_job=$(echo "scale=2; $EVAL / $C" | bc) load=$(cut -d' ' -f1 /proc/loadavg)"
