"""The warning book fuses a model signal by its calibrated probability (latest, capped)."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from engine.fusion import Fusion, LevelCuts
from engine.warning_book import WarningBook
from learning import EscalationDetector
from streams.codes import Level
from streams.detect import CaseContext, CaseEntry
from streams.records import Signal

from .test_learning_model import T0, call, play_cases

CASE = SimpleNamespace(case_id="C1", dispute_kind="neighbour", address="和平路8号",
                       region_code="629901001002")


def rule(n: int, score: float = 0.5) -> Signal:
    return Signal(id=f"r{n}", detector="rules", rule_id="threat_words", case_id="C1",
                  record_id=f"rec{n}", score=score, reason="扬言威胁", at=T0 + timedelta(hours=n))


def model(n: int, p: float) -> Signal:
    f = Fusion()
    return Signal(id=f"m{n}", detector="learning.escalation", rule_id="escalation_model",
                  case_id="C1", record_id=f"rec{n}", score=min(1.0, f.model_weight(p)),
                  reason=f"模型估计民转刑概率{p:.0%}",
                  evidence={"probability": p, "fusion_weight": f.model_weight(p)},
                  at=T0 + timedelta(hours=n))


FULL = Fusion(model_scale=1.0)   # the model's whole log-odds evidence (the default keeps a share)


def book_score(*batches: list[Signal], fusion: Fusion = FULL) -> float:
    book, w = WarningBook(LevelCuts(blue=0.01), fusion=fusion), None   # (every score opens a warning)
    for i, sigs in enumerate(batches):
        w = book.update(CASE, sigs, "call", T0 + timedelta(hours=i)) or w
    return w.score if w is not None else 0.0


def test_a_confident_model_raises_the_score_more_than_a_weak_one():
    alone = book_score([rule(1)])
    weak = book_score([rule(1), model(1, 0.05)])
    confident = book_score([rule(1), model(1, 0.5)])
    assert alone < weak < confident
    # beside the rule it adds exactly its evidence in log-odds
    assert confident == pytest.approx(FULL.score([0.5, FULL.model_weight(0.5)]), abs=1e-4)


def test_by_default_a_share_of_the_models_evidence_enters_fusion():
    f = Fusion()
    assert 0 < f.model_scale < 1
    shared = book_score([rule(1), model(1, 0.5)], fusion=f)
    assert book_score([rule(1)], fusion=f) < shared < book_score([rule(1), model(1, 0.5)])
    assert shared == pytest.approx(f.score([0.5, f.model_scale * FULL.model_weight(0.5)]), abs=1e-4)
    # a model alone, however sure, opens no warning at the default cuts
    assert WarningBook().update(CASE, [model(1, 0.999)], "call", T0) is None


def test_a_model_alone_reads_back_as_its_probability_and_never_reaches_red():
    f = FULL
    assert book_score([model(1, 0.45)]) == pytest.approx(0.45, abs=1e-4)
    book = WarningBook(fusion=FULL)
    w = book.update(CASE, [model(1, 0.999)], "call", T0)
    assert w.score == pytest.approx(f.model_max, abs=1e-4) and w.level != Level.RED
    w = book.update(CASE, [rule(2, 0.6)], "call", T0 + timedelta(hours=2))
    assert w.level == Level.RED   # a rule beside it can take it to red


def test_the_model_counts_as_its_latest_estimate_not_its_highest():
    high = book_score([model(1, 0.6)])
    later_low = book_score([model(1, 0.6)], [model(2, 0.1)])
    assert later_low == pytest.approx(0.1, abs=1e-4) and later_low < high
    many = book_score(*[[model(i, 0.3)] for i in range(8)])   # no repeat bonus either
    assert many == pytest.approx(0.3, abs=1e-4)


def test_explanation_names_the_models_top_features_in_chinese():
    m = EscalationDetector(emit_min_p=0.0)
    play_cases(m, 80)
    r = call("k1", T0 + timedelta(days=40), "对方扬言要报复,放话要杀了他", "threat")
    ctx = CaseContext("C1", [CaseEntry("k1", "call", r.occurred_at, "threat", r.text)])
    sigs = m.detect(r, ctx)
    w = WarningBook(LevelCuts(blue=0.01)).update(CASE, sigs, "call", r.occurred_at)
    names = [t["feature"] for t in sigs[0].evidence["top_features"]]
    assert w is not None and names and "模型估计民转刑概率" in w.explanation
    assert all(n in w.explanation for n in names)


class _Scripted(EscalationDetector):
    """The real detector with its calibrated score replaced by a script (the model's learning is
    not what is tested here: what it says, and when it stays silent, is)."""

    def __init__(self, ps: list[float], **kw):
        super().__init__(**kw)
        self.ps = iter(ps)

    def score(self, record, case):
        x, names = self.feat.features(record, case)
        p = next(self.ps)
        return p, p, x, names


def test_the_model_says_once_when_a_case_falls_below_its_floor_so_the_book_drops_it():
    ps = [0.01, 0.6, 0.3, 0.02, 0.01, 0.4]
    m = _Scripted(ps, emit_min_p=0.05)
    book, entries, said, scores = WarningBook(LevelCuts(blue=0.01), fusion=FULL), [], [], []
    for i, p in enumerate(ps):
        r = call(f"k{i}", T0 + timedelta(hours=i), "邻里纠纷又吵起来了")
        entries.append(CaseEntry(r.id, "call", r.occurred_at, "dispute", r.text))
        sigs = m.detect(r, CaseContext("C1", list(entries)))
        said.append([s.evidence["probability"] for s in sigs])
        w = book.update(CASE, [rule(i, 0.3), *sigs], "call", r.occurred_at)
        scores.append(w.score)
    # silent below the floor, except the one 回落 when a case it spoke about falls under it
    assert said == [[], [0.6], [0.3], [0.02], [], [0.4]]
    assert scores[3] < scores[2] < scores[1]   # the book counts the model's latest, not a stale 0.3
    assert scores[4] < scores[5]   # and it speaks again when the case rises


def test_the_models_memory_of_what_it_said_survives_a_checkpoint():
    m = _Scripted([0.6], emit_min_p=0.05)
    r = call("k0", T0, "邻里纠纷")
    ctx = CaseContext("C1", [CaseEntry("k0", "call", T0, "dispute", r.text)])
    assert m.detect(r, ctx)
    back = _Scripted([0.01], emit_min_p=0.05)
    back.restore(m.snapshot())
    r2 = call("k1", T0 + timedelta(hours=1), "邻里纠纷")
    sigs = back.detect(r2, CaseContext("C1", [*ctx.entries, CaseEntry("k1", "call", r2.occurred_at, "dispute", r2.text)]))
    assert [s.reason for s in sigs] == ["模型估计民转刑概率回落至1%"]
