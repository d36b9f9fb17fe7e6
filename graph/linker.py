"""The case linker: which dispute case (矛盾纠纷) an event record belongs to.

Evidence a record carries: a dispute number (登记编号), its people (身份证号, phone, name) and
its address, normalised and scoped to its 街道 (``normalize``).  People and phones are keyed
hashes and names per-character tokens (``entities``): the linker holds no clear ID numbers,
phones or names.

Every key indexes *all* the live cases holding it (not only the latest), and a record is
scored against each candidate case (people in common, address):

- a dispute number names its case; a new number opens a new case, unless it formalises a case
  so far known only from calls (two people in common, one and the address, or the address alone
  within ``formalise_window`` of that case opening);
- any other record joins the candidate with the most people in common plus the address, then
  the most people, then the newest case.  A person matches by 身份证号, by phone unless the names
  clearly differ, or by a (typo-tolerant) name at the case's address.  Refused: a registered
  case at another address (the same people elsewhere are another story), and one person in
  common with a registered case when the record names people it does not know;
- a case's addresses come from its first record and its registrations only;
- a case quiet for ``idle`` (30 days) takes no new records; a video alert, which names nobody,
  joins a case by address only within ``video_window`` (3 days) of its last activity;
- calls-only cases merge when one record matches both by two people, or a person and the
  address; the older id survives and the other stays reachable as an alias (``canonical``).
  Registered disputes (two numbers) never merge.

History: plain union-find over every shared key glued a month of a small city into one
14,000-record "case"; one case per key ("a key follows its person to their latest case") gave
pairwise precision 0.86 / recall 0.78 with noisy names, because a person in two disputes, or
one wrong join, carried every key to the wrong case.  Figures now: ``benchmarks/results/graph.json``.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from sys import intern
from typing import Any

from streams.detect import CaseEntry
from streams.ident import subdistrict_of
from streams.privacy import Hasher

from .cases import MAX_EVIDENCE, MAX_NAMES, Case, LinkResult, merge_reason, why
from .entities import NameSigner, PersonRef, people_of, similar
from .normalize import normalise_address

__all__ = ["Case", "CaseLinker", "LinkResult"]

INDEX_DEPTH = 8      # live cases remembered per key (a person in many disputes at once)
_ID, _PH, _NAME, _AD, _DN = "身份证号", "电话", "姓名+住址", "住址", "纠纷编号"
# what matched a record to a candidate case, as bits while candidates are scored (no set per
# candidate); ``_labels`` spells out the chosen one's
_BY_ID, _BY_PH, _BY_NAME, _BY_AD = 1, 2, 4, 8
_BITS = ((_BY_ID, _ID), (_BY_PH, _PH), (_BY_NAME, _NAME), (_BY_AD, _AD))


def _labels(bits: int) -> set[str]:
    return {label for bit, label in _BITS if bits & bit}


class CaseLinker:
    """Assigns each event record to a case; deterministic for a given arrival order."""

    def __init__(self, hasher: Hasher, idle: timedelta = timedelta(days=30),
                 video_window: timedelta = timedelta(days=3)):
        self._hash = hasher
        self._names = NameSigner(hasher)
        self.idle = idle                          # a case quiet this long takes no new records
        self.video_window = video_window          # ... and no video alert by its address alone
        self.formalise_window = timedelta(hours=12)  # a registration adopts a call-only case by
        #                                            address alone only this soon after it opened
        # link key -> case ids holding it, oldest first.  Tuples, not lists: the collector stops
        # tracking a tuple of strings, and at 1 M people there are ~2.5 M of them (lists made
        # every collection walk them all: bench_graph_scale link)
        self._index: dict[str, tuple[str, ...]] = {}
        self.cases: dict[str, Case] = {}
        self.aliases: dict[str, str] = {}        # merged case id -> the case it merged into
        self._seq = 0
        # (region code, address as written) -> address key or None (a cache: the key is made
        # once per place, not once per record)
        self._addr: dict[tuple[str, str], str | None] = {}

    # --- state (engine/worker_state.py snapshots it) ---------------------------------------
    # Named, not ``vars(self)``: compiled (streams/native.py) the linker has no ``__dict__``.
    # Never saved: ``_hash`` and ``_names`` (rebuilt from the settings: the hasher's key) and
    # ``_addr`` (a cache refilled on demand, up to 100 k addresses as written).
    _SAVED = ("idle", "video_window", "formalise_window", "_index", "cases", "aliases", "_seq")

    def snapshot(self) -> dict[str, Any]:
        """The linker's state by reference (cases, index, aliases...): the caller copies it
        (pickles it) before the linker goes on."""
        return {k: getattr(self, k) for k in self._SAVED}

    def restore(self, state: dict[str, Any]) -> None:
        for k in self._SAVED:
            if k in state:
                setattr(self, k, state[k])

    # --- ids ------------------------------------------------------------------------------
    def canonical(self, case_id: str) -> str:
        """The live id of ``case_id``: itself, or the case it was merged into."""
        while case_id in self.aliases:
            case_id = self.aliases[case_id]
        return case_id

    def alias_of(self, case_id: str) -> str | None:
        """The case ``case_id`` was merged into (directly or through several merges), or None."""
        c = self.canonical(case_id)
        return None if c == case_id else c

    def case_of_key(self, key: str) -> str | None:
        """The newest live case holding ``key``."""
        ids = self._index.get(key)
        return self.canonical(ids[-1]) if ids else None

    # --- evidence ---------------------------------------------------------------------------
    def evidence(self, rec: Any) -> tuple[list[PersonRef], str | None, str | None]:
        """(people, address key, dispute-number key) of a record."""
        # (kind tests, not getattr: a missing attribute on a pydantic model is a slow miss)
        kind = rec.kind
        parties = list(rec.parties) if kind != "video_alert" else []
        if kind == "call":
            parties.insert(0, rec.caller)
        elif kind == "video_alert" and rec.matched is not None:
            parties.append(rec.matched)
        people = people_of(parties, self._hash, self._names)
        place = rec.place
        where = (place.region_code, place.address)
        ad = self._addr.get(where, "")   # ("": not cached yet; None: no usable address)
        if ad == "":
            if len(self._addr) > 100_000:
                self._addr.clear()
            addr = normalise_address(place.address)
            ad = self._addr[where] = (intern(f"ad:{subdistrict_of(place.region_code)}:{addr}")
                                      if len(addr) >= 4 else None)
        dn = "dn:" + rec.dispute_no if kind == "grid_event" and rec.dispute_no else None
        return people, ad, dn

    def _match(self, c: Case, people: list[PersonRef], ad: str | None) -> tuple[int, bool, int]:
        """(people matched, address matched, evidence bits: ``_BITS``)."""
        keys = c.keys
        a = ad is not None and ad in keys
        hit = bits = 0
        for p in people:
            label = 0
            for k in p.keys:
                if k in keys:
                    if k[0] == "i":
                        label = _BY_ID
                        break
                    if similar(p.name, c.phone_names.get(k)):
                        label = _BY_PH  # a phone answered by someone else is not the person
            if not label and a and p.name is not None and not p.keys:
                if any(similar(p.name, n) for n in c.names):
                    label = _BY_NAME
            if label:
                hit += 1
                bits |= label
        return hit, a, (bits | _BY_AD) if a else bits

    @staticmethod
    def _accepts(c: Case, hit: int, unknown: int, a: bool, has_ad: bool) -> bool:
        if c.has_dispute_no and has_ad and not a:
            # a registered dispute knows its place: the same people elsewhere are another story
            return False
        if hit >= 2:
            return True
        if hit == 1:
            return unknown == 0 or (a and not c.has_dispute_no)
        return a and unknown <= 1  # a stranger calling from the case's door

    # --- linking ------------------------------------------------------------------------
    def _live(self, key: str, cutoff: datetime, into: dict[str, Case]) -> None:
        """Add to ``into`` the cases holding ``key`` that were active at ``cutoff`` or later."""
        cases = self.cases
        for cid in self._index.get(key, ()):
            c = cases.get(cid)
            if c is None:   # (the index holds live ids only: ``_merge`` rewrites it)
                c = cases.get(cid := self.canonical(cid))
            if c is not None and c.last_at >= cutoff:
                into[cid] = c

    def link(self, rec: Any, entry: CaseEntry, dispute_kind: str | None = None) -> LinkResult | None:
        """Put ``rec`` into a case; None for a record that names no case (see module doc)."""
        people, ad, dn = self.evidence(rec)
        if not people and ad is None and dn is None:
            return None
        at = rec.occurred_at
        # a case quiet too long is a past story.  (One cut-off compare per candidate instead of
        # a timedelta per candidate; the two differ only across a DST change, and event times
        # are +08:00 or Asia/Shanghai, which has had none since 1991.)
        cutoff = at - self.idle
        cands: dict[str, Case] = {}
        for p in people:
            for k in p.keys:
                self._live(k, cutoff, cands)
        by_people = set(cands)   # (for graph.party_cases / graph.address_cases)
        by_ad: dict[str, Case] = {}
        if ad:
            self._live(ad, cutoff, by_ad)
            cands.update(by_ad)
        video = rec.kind == "video_alert"
        scored = []
        n = len(people)
        for c in cands.values():
            hit, a, bits = self._match(c, people, ad)
            if video and a and not hit and at - c.last_at > self.video_window:
                continue  # an incident on camera at a case's door joins it only while it is live
            rank = (hit + a, hit, c.last_at, c.seq) if video else (hit + a, hit, c.seq, c.last_at)
            scored.append((rank, c, hit, n - hit, a, bits))
        if len(scored) > 1:
            scored.sort(key=lambda s: s[0], reverse=True)
        case, bits, merged, numbered = None, 0, [], False
        if dn is not None:
            by_dn = self._index.get(dn)
            if by_dn:
                case = self.cases.get(self.canonical(by_dn[-1]))
                if case is not None:
                    numbered = True   # its registration number names it
                    bits = next((s[5] for s in scored if s[1] is case), 0)
            if case is None:
                # a registration may formalise a case known so far only from calls
                pool = [s for s in scored if not s[1].has_dispute_no and (
                    (s[2] >= 2 or s[2] >= 1 and s[4])
                    or s[4] and at - s[1].first_at <= self.formalise_window)]
                if pool:
                    case, bits = pool[0][1], pool[0][5]
                    merged = [s[1] for s in pool[1:] if s[0][0] == pool[0][0][0]
                              and (s[2] >= 2 or (s[2] >= 1 and s[4]))]
        else:
            ok = [s for s in scored if self._accepts(s[1], s[2], s[3], s[4], ad is not None and not video)]
            if ok:
                case, bits = ok[0][1], ok[0][5]
                merged = [] if video else [s[1] for s in ok[1:] if not s[1].has_dispute_no
                          and (s[2] >= 2 or (s[2] >= 1 and s[4])) and s[0][0] >= ok[0][0][0]]
        created = case is None
        if created:
            if dn is None and not self._may_open(rec):
                return None
            case = self._new_case(rec)
        assert case is not None   # (for the compiler: a case was found or made)
        labels = _labels(bits) if bits else set()
        if numbered:
            labels.add(_DN)
        why = sorted(labels)
        gone = []
        reason = via = ""
        if merged:
            via = f"经记录 {rec.id}({'+'.join(why)})合并"
            reason = merge_reason(rec.id, labels)
        for m in merged:
            keep = self._merge(case, m, via)
            gone.append(m.case_id if keep is case else case.case_id)
            case = keep
        self._add(case, rec, entry, people, ad, dn, dispute_kind, why)
        pkeys = {p.person_key for p in people if p.person_key}
        new_people = pkeys - case.party_keys
        case.party_keys.update(pkeys)
        mine = {case.case_id, *gone}
        return LinkResult(case, created, why, pkeys, new_people, gone, reason,
                          len(by_people - mine), len(by_ad.keys() - mine))

    def _add(self, case: Case, rec: Any, entry: CaseEntry, people: list[PersonRef], ad: str | None,
             dn: str | None, dispute_kind: str | None, why: list[str]) -> None:
        cid = case.case_id
        new = [k for p in people for k in p.keys if k not in case.keys]
        for p in people:
            if p.phone_key and p.name is not None and p.phone_key not in case.phone_names:
                case.phone_names[p.phone_key] = p.name
            if p.name is not None and len(case.names) < MAX_NAMES:
                case.names.add(p.name)
        # a case's places come from its opening record and its registration (登记) records:
        # a party calling from home about something else must not move the case there
        for k in (ad if (dn is not None or not case.keys) else None, dn):
            if k is not None and k not in case.keys:
                new.append(k)
        index = self._index
        for k in new:
            case.keys.add(k)
            ids = index.get(k)
            if ids is None:
                index[k] = (cid,)
            elif len(ids) < INDEX_DEPTH:
                index[k] = ids + (cid,)
            else:
                index[k] = ids[1:] + (cid,)
        case.has_dispute_no = case.has_dispute_no or dn is not None
        if dispute_kind and not case.dispute_kind:
            case.dispute_kind = dispute_kind
        case.add(entry)
        case.last_at = max(case.last_at, rec.occurred_at)
        if len(case.evidence) < MAX_EVIDENCE:
            # (interned: a handful of distinct texts, one per record of every case)
            case.evidence[rec.id] = intern("+".join(why)) if why else "首条记录,新立案件"

    def _merge(self, keep: Case, other: Case, via: str) -> Case:
        """Merge two cases: the older id survives, the other becomes its alias."""
        if other.seq < keep.seq:
            keep, other = other, keep
        for rid, why in other.evidence.items():
            other.evidence[rid] = f"{why};{via}"
        keep.absorb(other)
        for k in other.keys:
            ids = self._index.get(k)
            if ids is not None:
                self._index[k] = tuple(dict.fromkeys(
                    keep.case_id if i == other.case_id else i for i in ids))
        del self.cases[other.case_id]
        self.aliases[other.case_id] = keep.case_id
        return keep

    def open_alone(self, rec: Any, entry: CaseEntry) -> Case:
        """A case for one record that names nobody (an incident on camera): nothing links to it."""
        case = self._new_case(rec)
        case.add(entry)
        return case

    @staticmethod
    def _may_open(rec: Any) -> bool:
        """Only disputes, calls and person-matched video alerts open a case."""
        if rec.kind == "grid_event":
            return rec.category.value in ("dispute", "visit")
        return rec.kind == "call" or rec.matched is not None

    def _new_case(self, rec: Any) -> Case:
        self._seq += 1
        cid = "C-" + hashlib.blake2b(rec.id.encode(), digest_size=8).hexdigest()
        case = Case(cid, self._seq, intern(rec.place.region_code), rec.place.address, rec.occurred_at,
                    last_at=rec.occurred_at)
        self.cases[cid] = case
        return case

    def why(self, record_a: str, record_b: str) -> str | None:
        """Why two records are in one case (Chinese, for the console), or None if they are not."""
        return why(self.cases.values(), record_a, record_b)

    def prune(self, before: datetime) -> list[str]:
        """Forget cases last active before ``before`` (and their keys and aliases); return their
        ids, aliases included.

        With ``before`` at least ``idle`` in the past this changes no linking decision: such a
        case could take no new record anyway.  Its records stay in the store.
        """
        gone = [cid for cid, c in self.cases.items() if c.last_at < before]
        out = list(gone)
        for cid in gone:
            case = self.cases.pop(cid)
            for k in case.keys:
                ids = self._index.get(k)
                if ids is not None and cid in ids:
                    if len(ids) == 1:
                        del self._index[k]
                    else:
                        i = ids.index(cid)
                        self._index[k] = ids[:i] + ids[i + 1:]
        if self.aliases:
            dead = [a for a in self.aliases if self.canonical(a) not in self.cases]
            for a in dead:
                out.append(a)
            for a in dead:
                del self.aliases[a]
        return out
