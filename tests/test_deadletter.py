"""Dead-letter file: one parseable JSON line per reject, flushed, rotated by size, counted."""
from __future__ import annotations

import json
from datetime import datetime

import pytest

from sinks.deadletter import DeadLetterFile
from streams.codec import Reject
from streams.errors import SinkError
from streams.records import TZ

AT = datetime(2026, 5, 1, 9, 30, tzinfo=TZ)


def rej(n: int, pad: int = 0) -> Reject:
    return Reject("bad_id_number", "parties.0.id_number", "身份证号 check digit is 1, GB 11643 gives X",
                  '{"id": "g%d", "parties": [{"name": "张三", "id_number": "110105194912310021"}]%s}'
                  % (n, " " * pad), source="in.jsonl", line=n, record_id=f"g{n}", at=AT)


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_lines_parse_back_to_the_rejects(tmp_path):
    path = tmp_path / "dl" / "rejects.jsonl"
    written = [rej(n) for n in range(1, 6)]
    dl = DeadLetterFile(path)
    dl.extend(written)
    dl.flush()  # readable by another reader before close
    rows = read_lines(path)
    assert dl.count == 5
    dl.close()
    assert [Reject(**{**r, "at": datetime.fromisoformat(r["at"])}) for r in rows] == written
    assert "张三" in path.read_text(encoding="utf-8")  # raw kept whole, not escaped or masked


def test_appends_to_an_existing_file(tmp_path):
    path = tmp_path / "rejects.jsonl"
    with DeadLetterFile(path) as dl:
        dl.append(rej(1))
    with DeadLetterFile(path) as dl:
        dl.append(rej(2))
        assert dl.count == 1
    assert [r["line"] for r in read_lines(path)] == [1, 2]


def test_rotates_at_the_size_limit(tmp_path):
    path = tmp_path / "rejects.jsonl"
    one = len(rej(1, pad=200).to_json().encode()) + 1
    with DeadLetterFile(path, max_bytes=3 * one, keep=3) as dl:
        for n in range(1, 11):  # 10 lines, 3 per file
            dl.append(rej(n, pad=200))
        assert dl.count == 10
        files = dl.files()
    assert [p.name for p in files] == ["rejects.jsonl", "rejects.jsonl.1", "rejects.jsonl.2",
                                       "rejects.jsonl.3"]
    assert all(p.stat().st_size <= 3 * one for p in files)
    # newest in the live file, then .1, .2, .3 back in time; nothing lost in between
    assert [[r["line"] for r in read_lines(p)] for p in files] == [[10], [7, 8, 9], [4, 5, 6], [1, 2, 3]]


def test_rotation_drops_files_beyond_keep(tmp_path):
    path = tmp_path / "rejects.jsonl"
    one = len(rej(1).to_json().encode()) + 1
    with DeadLetterFile(path, max_bytes=one, keep=2) as dl:
        for n in range(1, 7):
            dl.append(rej(n))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rejects.jsonl", "rejects.jsonl.1",
                                                          "rejects.jsonl.2"]
    assert [read_lines(tmp_path / n)[0]["line"] for n in
            ("rejects.jsonl", "rejects.jsonl.1", "rejects.jsonl.2")] == [6, 5, 4]


def test_a_line_larger_than_the_limit_is_still_written(tmp_path):
    path = tmp_path / "rejects.jsonl"
    with DeadLetterFile(path, max_bytes=50) as dl:
        dl.append(rej(1, pad=500))
        dl.append(rej(2, pad=500))
    assert [r["line"] for r in read_lines(path)] == [2]
    assert [r["line"] for r in read_lines(tmp_path / "rejects.jsonl.1")] == [1]


def test_closed_file_and_bad_folder_raise_sink_error(tmp_path):
    dl = DeadLetterFile(tmp_path / "rejects.jsonl")
    dl.close()
    dl.close()  # twice is fine
    with pytest.raises(SinkError, match="closed"):
        dl.append(rej(1))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SinkError, match="dead-letter folder"):
        DeadLetterFile(blocker / "sub" / "rejects.jsonl")
