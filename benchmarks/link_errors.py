"""Where the case linker goes wrong, by record kind and by the evidence that joined it.

    .venv/bin/python -m benchmarks.link_errors [--clean] [--scale 1]

For each record of a true case (the simulator's truth): *split* if it is not in the predicted
case holding most of its true case (hurts recall), *intruder* if its predicted case is owned by
another true case (hurts precision), *unlinked* if it got no case.  The linker never sees the
truth; this only reads it to score.
"""
from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from typing import Any

from benchmarks.bench_graph import H, _city, pairwise
from engine.pipeline import Pipeline
from streams.simulate import SimConfig
from streams.sources import decode_lines


def kind_of(rec: Any) -> str:
    if rec.kind == "grid_event":
        return f"grid_event/{rec.category.value}" + ("/登记编号" if rec.dispute_no else "")
    if rec.kind == "video_alert":
        return f"video_alert/{rec.alert_type.value}"
    return "call"


def errors(case_of: dict[str, str], truth: list[dict], recs: dict[str, Any],
           evidence: dict[str, str]) -> dict:
    true_of = {rid: t["case_id"] for t in truth if t["kind"] == "case" for rid in t["record_ids"]}
    members, by_pred = defaultdict(list), defaultdict(list)
    for rid, tc in true_of.items():
        members[tc].append(rid)
        if case_of.get(rid):
            by_pred[case_of[rid]].append(tc)
    major = {tc: Counter(case_of[r] for r in rids if case_of.get(r)).most_common(1) for tc, rids in members.items()}
    major = {tc: m[0][0] for tc, m in major.items() if m}
    owner = {pc: Counter(tcs).most_common(1)[0][0] for pc, tcs in by_pred.items()}
    table: dict[str, Counter] = defaultdict(Counter)
    by_evidence: Counter = Counter()
    for rid, tc in true_of.items():
        rec = recs.get(rid)
        if rec is None:
            continue
        row = table[kind_of(rec)]
        row["records"] += 1
        pc = case_of.get(rid)
        if not pc:
            row["unlinked"] += 1
            continue
        bad = False
        if major.get(tc) != pc:
            row["split"] += 1
            bad = True
        if owner[pc] != tc:
            row["intruder"] += 1
            bad = True
        if bad:
            by_evidence[f"{kind_of(rec).split('/')[0]}: {evidence.get(rid, '?')}"] += 1
    return {"by_kind": {k: dict(v) for k, v in sorted(table.items(), key=lambda kv: -kv[1]["records"])},
            "wrong_by_evidence": dict(by_evidence.most_common(10))}


def run(scale: float, noisy: bool) -> dict:
    lines, truth = _city(SimConfig(days=30, seed=7, scale=scale, noisy_names=noisy))
    items = list(decode_lines(lines))
    p = Pipeline(H, [])
    evidence: dict[str, str] = {}
    link = p.linker.link

    def spy(rec, entry, dispute_kind=None):
        res = link(rec, entry, dispute_kind)
        if res is not None:
            evidence[rec.id] = ("新立 " if res.created else "") + "+".join(res.reasons)
        return res
    p.linker.link = spy
    case_of, merged = {}, {}
    for i in range(0, len(items), 1000):
        out = p.process(items[i:i + 1000])
        case_of.update(out.case_of)
        merged.update(out.merged)
    for rid, cid in case_of.items():
        while cid in merged:
            cid = merged[cid]
        case_of[rid] = cid
    prec, rec = pairwise(case_of, truth)
    recs = {it.record.id: it.record for it in items if it.record is not None}
    return {"precision": round(prec, 4), "recall": round(rec, 4), **errors(case_of, truth, recs, evidence)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clean", action="store_true", help="names and addresses without noise")
    ap.add_argument("--scale", type=float, default=1.0)
    a = ap.parse_args()
    r = run(a.scale, not a.clean)
    print(f"pairwise precision {r['precision']}  recall {r['recall']}")
    print(f"{'record kind':34s} {'records':>8s} {'unlinked':>8s} {'split':>6s} {'intruder':>8s}")
    for k, row in r["by_kind"].items():
        print(f"{k:34s} {row['records']:8d} {row.get('unlinked', 0):8d} {row.get('split', 0):6d} "
              f"{row.get('intruder', 0):8d}")
    print("wrongly placed records by the evidence that joined them:")
    for k, n in r["wrong_by_evidence"].items():
        print(f"  {n:6d}  {k}")


if __name__ == "__main__":
    main()
