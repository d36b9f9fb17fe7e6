"""Hot reload: a changed pack is swapped into the running detector keeping the window state of
unchanged rules; a pack that fails lint is refused and the old rules keep running."""
from __future__ import annotations

import os
import re
from datetime import timedelta

from rules.detector import PackDetector
from rules.packs import load_packs
from rules.reload import PackReloader
from rules.testing import build_record
from streams.detect import CaseContext

PACK = """\
pack: demo
version: {pv}
title: 演示
rules:
  - id: repeat3
    version: {tv}
    title: 三次来电
    description: 同一案件7天内来电3次。
    score: 0.3
    streams: [call]
    kind: threshold
    when: "true"
    count: 3
    window: 7d
    tests:
      - records: [{{}}, {{at: 1h}}, {{at: 2h}}]
        fire: true
      - records: [{{}}]
        fire: false
  - id: knife
    version: 1
    title: 凶器
    description: 出现刀。
    score: 0.4
    streams: [call]
    when: {knife}
    tests:
      - records: [{{text: 拿刀}}]
        fire: true
      - records: [{{text: 吵架}}]
        fire: false
{extra}"""

EXTRA = """\
  - id: petrol
    version: 1
    title: 汽油
    description: 出现汽油。
    score: 0.4
    streams: [call]
    when: text contains "汽油"
    tests:
      - records: [{text: 买汽油}]
        fire: true
      - records: [{text: 吵架}]
        fire: false
"""


def write(d, pv=1, tv=1, knife='text contains "刀"', extra=""):
    p = d / "demo.yaml"
    p.write_text(PACK.format(pv=pv, tv=tv, knife=knife, extra=extra), encoding="utf-8")
    st = p.stat()   # make the change visible to the mtime check even within one clock tick
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    return p


class Feed:
    """Calls on one case, an hour apart, through the detector as the pipeline does."""

    def __init__(self, det):
        self.det, self.n = det, 0

    def __call__(self, text="吵架"):
        self.n += 1
        rec, _, _ = build_record(self.n, {"kind": "call", "text": text, "at": f"{self.n}h"})
        self.det.advance(rec.occurred_at - timedelta(hours=6))
        ctx = CaseContext("C", [], frozenset(), frozenset(), frozenset())
        return sorted(s.rule_id for s in self.det.detect(rec, ctx))


def start(tmp_path, **kw):
    write(tmp_path, **kw)
    det = PackDetector(load_packs(tmp_path).specs)
    return det, PackReloader(tmp_path, det), Feed(det)


def test_edit_adds_rule_and_keeps_unchanged_rules_state(tmp_path):
    det, rl, feed = start(tmp_path)
    assert rl.poll() is None
    assert feed() == [] and feed() == []          # threshold 2 of 3
    write(tmp_path, pv=2, extra=EXTRA)
    res = rl.poll()
    assert res.ok and res.added == ["petrol"] and sorted(res.kept) == ["knife", "repeat3"]
    assert rl.versions() == {"demo": 2}
    assert feed("买汽油") == ["petrol", "repeat3"]  # 3rd record: the window survived the swap
    assert rl.poll() is None


def test_version_bump_restarts_state(tmp_path):
    det, rl, feed = start(tmp_path)
    feed(), feed()
    res = write(tmp_path, tv=2) and rl.poll()
    assert res.ok and res.restarted == ["repeat3"]
    assert feed() == []                            # a re-versioned rule counts from zero
    assert feed() == [] and feed() == ["repeat3"]


def test_broken_edit_refused_with_place_and_old_rule_runs(tmp_path):
    det, rl, feed = start(tmp_path)
    write(tmp_path, knife='text contians "刀"')
    res = rl.poll()
    assert not res.ok and res.added == []
    m = re.match(r"(.+demo\.yaml):(\d+):(\d+): ", res.errors[0])
    assert m, res.errors
    line = (tmp_path / "demo.yaml").read_text(encoding="utf-8").splitlines()[int(m.group(2)) - 1]
    assert "contians" in line and line[int(m.group(3)) - 1:].startswith("contians")
    assert feed("拿刀") == ["knife"]                 # the old rule still fires
    assert rl.poll() is None                        # the same broken file is reported once
    write(tmp_path, knife='text contains "斧"')
    res = rl.poll()
    assert res.ok and res.kept == ["repeat3", "knife"]
    assert feed("拿刀") == [] and feed("斧头") == ["knife", "repeat3"]


def test_touch_without_change_and_lexicon_edit(tmp_path):
    (tmp_path / "lexicons").mkdir()
    lex = tmp_path / "lexicons" / "tools.txt"
    lex.write_text("刀\n", encoding="utf-8")
    det, rl, feed = start(tmp_path, knife="text mentions @tools")
    p = tmp_path / "demo.yaml"
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 5_000_000_000))
    assert rl.poll() is None                        # touched, same contents
    assert feed("拿锤子") == []
    lex.write_text("刀 = 锤子\n", encoding="utf-8")
    os.utime(lex, ns=(lex.stat().st_atime_ns, lex.stat().st_mtime_ns + 2_000_000_000))
    res = rl.poll()
    assert res.ok and res.changed_files == [str(lex)]
    assert feed("拿锤子") == ["knife"]


WAR = """\
title: 战时
packs: {{demo: {{score: x2}}}}
rules:
  repeat3: {{count: {count}}}
{extra}"""


def switch(path, text):
    """Write a profile file (or the profile choice) so that the mtime check sees it."""
    path.parent.mkdir(exist_ok=True)
    existed = path.exists()
    path.write_text(text, encoding="utf-8")
    if existed:
        st = path.stat()
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))


def start_profiles(tmp_path, count=2, extra=""):
    write(tmp_path, extra=EXTRA.replace("    version: 1\n    title: 汽油", "    version: 1\n    enabled: false\n    title: 汽油"))
    switch(tmp_path / "profiles" / "战时.yaml", WAR.format(count=count, extra=extra))
    choice = tmp_path / "data" / "rules-profile"
    det = PackDetector(load_packs(tmp_path).specs)
    return det, PackReloader(tmp_path, det, profile_file=choice), Feed(det), choice


def test_profile_switch_keeps_window_state_and_is_applied_on_poll(tmp_path):
    det, rl, feed, choice = start_profiles(tmp_path)
    assert rl.profile() == "平时" and rl.profiles() == ["平时", "战时"] and rl.poll() is None
    assert feed() == []                            # repeat3: 1 of 3
    switch(choice, "战时\n")
    res = rl.poll()
    assert res.ok and (res.previous_profile, res.profile) == ("平时", "战时")
    assert sorted(res.kept) == ["knife", "repeat3"] and "switched 平时 -> 战时" in res.summary()
    assert feed() == ["repeat3"]                   # 2nd record: the window survived the switch
    sig = det.detect(*_rec(3, "拿刀"))
    assert [(s.score, s.evidence["profile"]) for s in sig] == [(0.8, "战时")]
    switch(choice, "平时\n")
    res = rl.poll()
    assert res.ok and res.profile == "平时" and sorted(res.kept) == ["knife", "repeat3"]
    assert [feed() for _ in range(3)] == [[], [], ["repeat3"]]   # back to 3 after the firing


def _rec(n, text):
    rec, _, _ = build_record(n + 100, {"kind": "call", "text": text, "at": f"{n}h"})
    return rec, CaseContext("K", [], frozenset(), frozenset(), frozenset())


def test_profile_enabling_a_rule_adds_it_and_switching_back_removes_it(tmp_path):
    det, rl, feed, choice = start_profiles(tmp_path, extra="  petrol: {enabled: true}\n")
    assert feed("买汽油") == []                    # petrol is off in 平时
    switch(choice, "战时")
    res = rl.poll()
    assert res.ok and res.added == ["petrol"]
    assert feed("买汽油") == ["petrol", "repeat3"]
    switch(choice, "")                             # empty: 平时
    res = rl.poll()
    assert res.ok and res.profile == "平时" and res.removed == ["petrol"]


def test_unknown_profile_refused_old_profile_runs_and_edited_profile_reloads(tmp_path):
    det, rl, feed, choice = start_profiles(tmp_path)
    switch(choice, "战时")
    assert rl.poll().ok
    switch(choice, "战备")
    res = rl.poll()
    assert not res.ok and res.profile == "战时"
    assert res.errors == [f"{choice}:1:1: unknown rules profile '战备'; known: 平时, 战时"]
    assert rl.poll() is None                       # reported once
    assert feed() == [] and feed() == ["repeat3"]  # 战时 (count 2) still runs
    switch(tmp_path / "profiles" / "战时.yaml", WAR.format(count=4, extra=""))
    switch(choice, "战时")
    res = rl.poll()
    assert res.ok and res.profile == "战时" and "repeat3" in res.kept
    assert [feed() for _ in range(4)] == [[], [], [], ["repeat3"]]


def test_profile_named_at_start_is_applied(tmp_path):
    switch(tmp_path / "data" / "rules-profile", "战时\n")
    det, rl, feed, _ = start_profiles(tmp_path)
    assert rl.profile() == "战时" and rl.errors == []
    assert feed() == [] and feed() == ["repeat3"]
    switch(tmp_path / "data" / "rules-profile", "战备\n")
    det2 = PackDetector(load_packs(tmp_path).specs)
    rl2 = PackReloader(tmp_path, det2, profile_file=tmp_path / "data" / "rules-profile")
    assert rl2.profile() == "平时" and "unknown rules profile '战备'" in rl2.errors[0]
