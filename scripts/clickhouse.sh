#!/usr/bin/env bash
# Start and stop a private ClickHouse server (Debian's clickhouse-server package) for tests and
# local runs, with everything under one folder: config, data, logs, pid. Nothing system-wide is
# touched and the package's own service is never started.
#
#   scripts/clickhouse.sh start DIR [TCP_PORT [HTTP_PORT]]   # prints "tcp_port http_port pid"
#   scripts/clickhouse.sh stop DIR                           # SIGTERM, then SIGKILL after 10 s
#   scripts/clickhouse.sh kill DIR                           # SIGKILL at once (crash tests)
#
# Ports default to free ones picked by the kernel; a restart of the same DIR reuses its ports
# (kept in DIR/ports) so clients reconnect to the same address.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"  # Debian puts clickhouse-server in /usr/sbin

die() { echo "clickhouse.sh: $*" >&2; exit 1; }

# alive = exists and not a zombie (a killed server may wait a while to be reaped by init)
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

write_config() {
  local dir=$1 tcp=$2 http=$3
  mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
  # <yandex> is the root element ClickHouse 18.16 expects; current servers still accept it
  cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>$dir/log/server.log</log><errorlog>$dir/log/error.log</errorlog>
    <size>10M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$tcp</tcp_port>
  <http_port>$http</http_port>
  <path>$dir/data/</path>
  <tmp_path>$dir/tmp/</tmp_path>
  <user_files_path>$dir/user_files/</user_files_path>
  <format_schema_path>$dir/format_schemas/</format_schema_path>
  <users_config>$dir/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>Asia/Shanghai</timezone>
  <mark_cache_size>268435456</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
EOF
  cat >"$dir/users.xml" <<EOF
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users><default><password></password>
    <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
    <profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
EOF
}

# Ready = the native port accepts a connection and answers a query (the HTTP /ping is not enough
# on a restart: the TCP handler can lag a moment behind).
wait_ready() {
  local dir=$1 tcp=$2 pid=$3 end=$((SECONDS + 10))
  while [ "$SECONDS" -lt "$end" ]; do
    alive "$pid" || die "server exited at start; see $dir/log/error.log and $dir/stderr.log:
$(tail -n 20 "$dir/log/error.log" "$dir/stderr.log" 2>/dev/null)"
    if timeout 2 clickhouse-client --host 127.0.0.1 --port "$tcp" --connect_timeout=1 \
        --receive_timeout=1 --send_timeout=1 --query "SELECT 1" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.05
  done
  die "server did not answer on 127.0.0.1:$tcp within 10 s; see $dir/log/error.log"
}

cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: $0 start|stop|kill DIR [TCP_PORT [HTTP_PORT]]"
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)

case $cmd in
  start)
    command -v clickhouse-server >/dev/null 2>&1 || die "clickhouse-server is not installed
(apt-get install -y clickhouse-server clickhouse-client; 'make test' does it via scripts/test-deps.sh)"
    if [ -f "$dir/pid" ] && alive "$(cat "$dir/pid")"; then
      die "a server is already running from $dir (pid $(cat "$dir/pid"))"
    fi
    if [ -f "$dir/ports" ]; then read -r tcp http <"$dir/ports"; fi
    tcp=${3:-${tcp:-$(free_port)}}; http=${4:-${http:-$(free_port)}}
    echo "$tcp $http" >"$dir/ports"
    write_config "$dir" "$tcp" "$http"
    # --pid-file is not used: after a SIGKILL a stale one makes 18.16 refuse to start
    setsid clickhouse-server --config-file="$dir/config.xml" >"$dir/stderr.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/pid"
    wait_ready "$dir" "$tcp" "$pid"
    echo "$tcp $http $pid"
    ;;
  stop|kill)
    [ -f "$dir/pid" ] || exit 0
    pid=$(cat "$dir/pid")
    if [ "$cmd" = kill ]; then kill -KILL "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
    for _ in $(seq 1 400); do alive "$pid" || break; sleep 0.025; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.1; fi
    rm -f "$dir/pid"
    ;;
  *) die "unknown command $cmd (start, stop or kill)" ;;
esac
