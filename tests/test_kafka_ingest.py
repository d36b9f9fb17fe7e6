"""Topics and ingest against a real Kafka broker."""
from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from streams.codec import decode
from streams.simulate import SimConfig, generate, truth
from streams.topics import (
    DEFAULT_KEY_LEVEL, H_FIELD, H_KIND, H_LINE, H_REASON, H_STAGE, H_SUBDISTRICT, KEY_LEVELS, key_of,
    partition_for, subdistrict_of,
)

from .kafka_fixtures import headers_of, read_all, yujing_kafka

pytestmark = pytest.mark.integration
CITY = SimConfig(days=2, scale=0.3)


def test_topics_create_is_idempotent(kafka_broker):
    args = ["topics", "create", "--bootstrap", kafka_broker.bootstrap, "--topic-prefix", "idem",
            "--partitions", "3"]
    first = yujing_kafka(*args)
    assert set(first.values()) == {"created"} and len(first) == 4
    assert set(yujing_kafka(*args).values()) == {"exists"}
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    try:
        desc = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(first))}
        assert desc == {"idem.events": 3, "idem.registries": 1, "idem.warnings": 3,
                        "idem.dead-letters": 1}
        cfg = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, "idem.registries")])
        assert cfg["topic"]["idem.registries"]["cleanup.policy"]["value"] == "compact"
    finally:
        admin.close()


@pytest.mark.parametrize("level", KEY_LEVELS)
def test_ingest_routes_every_record_and_dead_letters_rejects(kafka_broker, kafka_topics, tmp_path, level):
    path = tmp_path / "city.jsonl"
    path.write_text("\n".join(generate(CITY)) + "\n", encoding="utf-8")
    flag = [] if level == DEFAULT_KEY_LEVEL else ["--key-level", level]   # the default: no flag
    summary = yujing_kafka("ingest", str(path), "--bootstrap", kafka_broker.bootstrap,
                           "--topic-prefix", kafka_topics.prefix, "--quiet", *flag)
    assert summary["key_level"] == level
    got = read_all(kafka_broker.bootstrap, kafka_topics.events, kafka_topics.registries,
                   kafka_topics.dead_letters)

    # expectations from the file itself, decoded independently of the ingest
    lines = path.read_text(encoding="utf-8").splitlines()
    good, bad = {}, {}
    for n, line in enumerate(lines, 1):
        try:
            good[decode(line).id] = decode(line)
        except Exception:
            bad[n] = line
    assert summary["lines"] == len(lines)

    # registries: compacted topic, keyed kind:id, every registry record once
    reg = {m.key.decode(): json.loads(m.value) for m in got[kafka_topics.registries]}
    want_reg = {f"{r.kind}:{r.id}" for r in good.values() if r.kind in ("grid", "key_person", "camera", "site")}
    assert set(reg) == want_reg

    # events: every event and feedback record on the partition of its district/subdistrict
    part_of_sub: dict[str, set[int]] = defaultdict(set)
    seen = Counter()
    for m in got[kafka_topics.events]:
        body = json.loads(m.value)
        h = headers_of(m)
        assert h[H_KIND] == body["kind"]
        seen[body["id"]] += 1
        place = body.get("place")
        if place:
            key = key_of(place["region_code"], level)
            assert len(key) == 12 and key.endswith("000000" if level == "district" else "000")
            assert m.key.decode() == key and h[H_SUBDISTRICT] == subdistrict_of(place["region_code"])
            assert m.partition == partition_for(key, 4)
            part_of_sub[key].add(m.partition)
        else:  # feedback follows the record it names
            assert body["kind"] == "feedback"
            target = next(x for x in got[kafka_topics.events] if json.loads(x.value)["id"] == body["record_id"])
            assert m.partition == target.partition
    assert all(len(p) == 1 for p in part_of_sub.values()), f"a {level} spans partitions"
    assert len(part_of_sub) >= 2, f"the city should span several {level} codes"
    events = [r for r in good.values() if r.kind not in ("grid", "key_person", "camera", "site")]
    assert set(seen) == {r.id for r in events}
    # duplicates in the file are published as they came (the worker skips them by id)
    assert sum(seen.values()) + len(reg) + len(bad) == len(lines)

    # rejects: on the dead-letter topic whole, the reason in headers, as the simulator planted them
    dead = got[kafka_topics.dead_letters]
    planted = {e["line"]: e["reason"] for e in truth(CITY) if e["kind"] == "malformed" and not e["decodes"]}
    assert planted, "the city should contain malformed lines"
    assert {int(headers_of(m)[H_LINE]): headers_of(m)[H_REASON] for m in dead} == planted
    for m in dead:
        h = headers_of(m)
        assert h[H_STAGE] == "ingest" and H_FIELD in h
        assert m.value.decode() == bad[int(h[H_LINE])]
    assert summary["rejects"] == dict(Counter(planted.values()))


def test_ingest_rate_limit_paces_publishing(kafka_broker, kafka_topics, tmp_path):
    path = tmp_path / "few.jsonl"
    path.write_text("\n".join(list(generate(CITY))[:60]) + "\n", encoding="utf-8")
    summary = yujing_kafka("ingest", str(path), "--bootstrap", kafka_broker.bootstrap,
                           "--topic-prefix", kafka_topics.prefix, "--rate", "40", "--quiet")
    assert summary["lines"] == 60 and summary["seconds"] >= 60 / 40 - 0.1
