"""sinks: where yujing's output goes.

``store.Store`` is the seam the engine writes batches to and the console reads from;
``chdb_store.ChdbStore`` is the embedded default (ClickHouse in-process under a data folder),
on the schema and migrations of ``schema``; ``deadletter.DeadLetterFile`` keeps rejected
records as JSON lines. Push channels and the ClickHouse server backend come later.
"""
