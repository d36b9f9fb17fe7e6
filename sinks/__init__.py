"""sinks: where yujing's output goes.

``store.Store`` is the seam the engine writes batches to and the console reads from, on one
schema (``schema``: modern types, rendered portably for old servers) with forward migrations:
``chdb_store.ChdbStore`` is the embedded default (ClickHouse in-process under a data folder);
``clickhouse_server.ServerStore`` talks to a ClickHouse server through clickhouse-driver, with
retries and a bounded on-disk ``spool`` while the server is down.  ``deadletter.DeadLetterFile``
keeps rejected records as JSON lines; ``sse.SseHub`` is the console's live push.
"""
