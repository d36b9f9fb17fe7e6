#!/usr/bin/env bash
# Installs what the test suite needs beyond Python packages: Debian's Chromium and a CJK font
# for the console tests, and Debian's ClickHouse server (18.16) for the store tests, which start
# their own private instance through scripts/clickhouse.sh (see ../shared/INFRA.md), and Debian's
# Prometheus (2.42, with promtool) for tests/test_ops_prometheus.py, which starts its own instance.
# Idempotent and quiet when all is present.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || need+=(fonts-wqy-microhei)
PATH="$PATH:/usr/sbin" command -v clickhouse-server >/dev/null 2>&1 || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null 2>&1 || need+=(clickhouse-client)
# Debian's docker-compose 1.29.2: tests/test_compose.py validates docker-compose.yml offline with it
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "test-deps: missing ${need[*]} and not root; install them with apt-get" >&2
  exit 1
fi
echo "test-deps: installing ${need[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# packages such as prometheus start their service on install: forbid that (policy-rc.d exit 101);
# the tests run their own processes with their own configs
policy=/usr/sbin/policy-rc.d
own_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && own_policy=1
fi
trap 'if [ -n "$own_policy" ]; then rm -f "$policy"; fi' EXIT
apt-get install -y -qq --no-install-recommends "${need[@]}" fontconfig >/dev/null
