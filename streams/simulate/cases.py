"""Dispute cases (矛盾纠纷) and the hidden risk process that makes a few of them escalate (民转刑).

Each case draws hidden risk factors — its kind (宅基地 and 婚姻家庭 highest), a key person
among the parties, a prior grudge (half of them the same pair coming back from an earlier
case, visible by linking; half only hinted at), separation (marriage), access to weapons,
unemployment, a history of self-harm — and a latent probability of escalation from a
logistic model of them; whether it escalates is then one Bernoulli draw (2–5 % overall).

A case then plays out over days or weeks: a registration (grid_event, ``dispute_no``),
calls from its parties to 110/12345 at the case address, mediation updates
(reported → mediating → resolved / mediation_failed, attempts growing), follow-up visits,
sometimes video alerts on the camera at the address. A hidden *heat* curve drives how often
parties call (gaps shrink as heat rises) and how severe the words are (see ``texts``):
escalating cases heat up towards the escalation (a 110 ``violence`` call, often right after a
video fight), except "silent" ones (20 %) that stay quiet until they blow up; "hard negative"
cases heat up with threats and calm down; "frequent contact" cases call often but mildly.
The centre's feedback follows days after a case escalates, resolves or fails (not always).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from . import build, texts
from .config import DAY, HOUR, PROFILE_DISPUTE, PROFILE_OFFICE, hour_sampler
from .geography import City, place
from .population import Population, address_variant, name_variant, party

KINDS = ("neighbour", "marriage_family", "property_mgmt", "private_loan", "consumer", "traffic",
         "wages", "homestead_land", "medical", "land_requisition", "other")
KIND_W = (22, 18, 12, 10, 8, 7, 7, 7, 3, 3, 3)
KIND_BASE = {"homestead_land": -3.3, "marriage_family": -3.7, "neighbour": -4.6,
             "private_loan": -4.1, "wages": -4.4, "land_requisition": -4.1, "property_mgmt": -5.5,
             "traffic": -4.9, "medical": -4.7, "consumer": -5.9, "other": -5.0}
GROUP_KINDS = ("wages", "land_requisition")
HOME_KINDS = ("marriage_family", "neighbour", "homestead_land", "private_loan", "other")
CASES_PER_DAY = 100
SHOPS = ["超市", "家电商场", "健身会所", "装修公司", "二手车市场", "教育培训机构"]


@dataclass(slots=True)
class CaseTruth:
    case_id: str
    kind: str
    region_code: str
    address: str
    started_at: int
    factors: dict
    latent_risk: float
    style: str
    escalates: bool = False            # the escalation record was emitted in the window
    escalates_later: bool = False      # it would escalate, but after the window ends
    escalated_at: int | None = None
    escalation_record_id: str | None = None
    record_ids: list = field(default_factory=list)
    feedback_ids: list = field(default_factory=list)
    party_ids: list = field(default_factory=list)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


class CaseMaker:
    def __init__(self, cfg, city: City, pop: Population, sched, rng):
        self.cfg, self.city, self.pop, self.s, self.rng = cfg, city, pop, sched, rng
        self.noisy = cfg.noisy_names
        self.n = 0
        self.recent: list[tuple[str, int, int]] = []
        self.rural_adults = [i for i in pop.adults if city.communities[pop.people[i].community].rural]
        self.t_dispute = hour_sampler(rng, PROFILE_DISPUTE)
        self.t_office = hour_sampler(rng, PROFILE_OFFICE)
        self.kp_by_district: dict[str, list[int]] = {}
        for i in pop.key_persons:
            d = city.communities[pop.people[i].community].district_code
            self.kp_by_district.setdefault(d, []).append(i)

    # ---- who and where ------------------------------------------------------------------
    def _adult(self, pool=None) -> int:
        pool = pool or self.pop.adults
        return pool[self.rng.randrange(len(pool))]

    def _near(self, p: int) -> int:
        """An adult of another household in the same community, preferring the same estate."""
        people, me = self.pop.people, self.pop.people[p]
        pool = self.pop.by_community[me.community]
        best = pool[self.rng.randrange(len(pool))]
        for _ in range(8):
            q = pool[self.rng.randrange(len(pool))]
            if people[q].household != me.household:
                best = q
                if people[q].estate == me.estate:
                    return q
        return best

    def _parties(self, kind: str, rural: bool) -> tuple[list[int], list[int], bool]:
        """(complainants, respondents, separated) for a new case."""
        rng, pop = self.rng, self.pop
        comp = self._adult(self.rural_adults if rural and self.rural_adults else None)
        if kind == "marriage_family":
            people = pop.people
            hh = pop.households[people[comp].household]
            if len(hh) >= 2 and rng.random() < 0.8:
                wife, husband = hh[1], hh[0]        # households start with a couple
                if rng.random() < 0.8:
                    return [wife], [husband], rng.random() < 0.25
                return [husband], [wife], rng.random() < 0.25
            ex = self._adult()                      # an ex-partner living elsewhere
            for _ in range(5):
                if people[ex].male != people[comp].male:
                    break
                ex = self._adult()
            return [comp], [ex], True
        if kind in ("neighbour", "homestead_land"):
            return [comp], [self._near(comp)], False
        if kind in GROUP_KINDS:
            n = int(min(60, 3 + rng.expovariate(1 / 10)))
            pool = pop.by_community[pop.people[comp].community]
            group = [comp] + [pool[rng.randrange(len(pool))] for _ in range(n - 1)]
            group = list(dict.fromkeys(group))
            boss = [self._adult()] if kind == "wages" else []
            return group, boss, False
        if kind == "property_mgmt" and rng.random() < 0.3:
            pool = pop.by_community[pop.people[comp].community]
            owners = list(dict.fromkeys([comp] + [pool[rng.randrange(len(pool))] for _ in range(rng.randint(1, 6))]))
            return owners, [self._adult()], False
        return [comp], [self._adult()], False

    def _where(self, kind: str, p: int) -> tuple[str, int, int, float, float]:
        """(address, community, estate, lat, lon) of the case."""
        rng, city, me = self.rng, self.city, self.pop.people[p]
        com = city.communities[me.community]
        if kind in HOME_KINDS:
            return me.address, me.community, me.estate, me.lat, me.lon
        est = city.estates[com.estates[rng.randrange(len(com.estates))]]
        base = f"{com.district}{est.road or com.sub}"
        label = {"wages": "在建工地", "property_mgmt": est.name + "物业服务中心",
                 "medical": "第%d人民医院" % (1 + me.community % 3), "consumer": texts.pick(rng, SHOPS),
                 "traffic": "路口", "land_requisition": com.name + "村委会"}.get(kind, "")
        return base + label, me.community, est.idx, est.lat, est.lon

    # ---- one case -----------------------------------------------------------------------
    def start_day(self, day: int) -> list[CaseTruth]:
        rng = self.rng
        lam = CASES_PER_DAY * self.cfg.scale
        n = max(0, round(rng.gauss(lam, math.sqrt(lam))))
        return [self._case(day * DAY + self.t_dispute()) for _ in range(n)]

    def _case(self, t0: int) -> CaseTruth:
        rng, pop, city, s = self.rng, self.pop, self.city, self.s
        self.n += 1
        kind = rng.choices(KINDS, KIND_W)[0]
        rural = kind in ("homestead_land", "land_requisition")
        comp, resp, separated = self._parties(kind, rural)
        repeat = False
        if kind not in GROUP_KINDS and self.recent and rng.random() < 0.08:
            k2, c2, r2 = self.recent[rng.randrange(len(self.recent))]
            kind, comp, resp, repeat = k2, [c2], [r2], True     # the same pair comes back
        if kind not in GROUP_KINDS and resp and rng.random() < 0.05:
            d = city.communities[pop.people[comp[0]].community].district_code
            kps = self.kp_by_district.get(d) or pop.key_persons
            resp = [kps[rng.randrange(len(kps))]]
        everyone = comp + resp
        kp = any(pop.people[i].kp for i in everyone)
        grudge = repeat or rng.random() < 0.08
        f = {"key_person_party": kp, "prior_grudge": grudge, "repeat_pair": repeat,
             "separation": kind == "marriage_family" and (separated or rng.random() < 0.2),
             "weapon_access": rng.random() < (0.2 if city.communities[pop.people[comp[0]].community].rural else 0.08),
             "unemployed": rng.random() < 0.12, "self_harm_history": rng.random() < 0.04}
        logit = (KIND_BASE[kind] + 1.3 * f["key_person_party"] + 1.1 * f["prior_grudge"]
                 + 1.0 * f["separation"] + 0.9 * f["weapon_access"] + 0.6 * f["unemployed"]
                 + 0.8 * f["self_harm_history"] + rng.gauss(0, 0.5))
        risk = _sigmoid(logit)
        esc = rng.random() < risk
        if esc:
            style = "silent" if rng.random() < 0.2 else "escalating"
        else:
            r = rng.random()
            style = "hard_negative" if r < 0.12 else ("frequent_contact" if r < 0.2 else "normal")
        addr, com, est, lat, lon = self._where(kind, comp[0])
        if kind not in GROUP_KINDS and not repeat:
            self.recent.append((kind, comp[0], resp[0]))
            if len(self.recent) > 3000:
                self.recent = self.recent[-2000:]
        t = CaseTruth(f"case-{self.n:07d}", kind, city.communities[com].code, addr, t0,
                      f, round(risk, 4), style, party_ids=[pop.people[i].id_number for i in everyone])
        self._play(t, kind, comp, resp, addr, com, est, lat, lon, t0, esc, style)
        return t

    def _play(self, t, kind, comp, resp, addr, com, est, lat, lon, t0, esc, style) -> None:
        rng, pop, city, s = self.rng, self.pop, self.city, self.s
        people = pop.people
        estate = city.estates[est]
        grid_id, camera = estate.grid_id, estate.camera_id
        plc = place(city, com, addr, lat, lon)
        dno = "TJ" + s.new_id("", t0)
        h0 = rng.uniform(0.2, 0.5) if esc else rng.uniform(0.05, 0.35)
        days = rng.lognormvariate(math.log(9 if esc else 8), 0.7)
        end = t0 + int(min(60.0, max(0.15, days)) * DAY)
        span = max(1, end - t0)

        def heat(ts: int) -> float:
            x = min(1.0, max(0.0, (ts - t0) / span))
            if style == "escalating":
                return h0 + (1 - h0) * x ** 1.5
            if style == "silent":
                return 0.08
            if style == "hard_negative":
                return 0.1 + 0.7 * math.sin(math.pi * x) ** 0.7
            if style == "frequent_contact":
                return 0.15
            return h0 * (1 - 0.6 * x)

        def severity(h: float) -> int:
            r = rng.random()
            p3 = 0.5 * h ** 2.2
            p2 = p3 + 0.55 * h ** 1.5
            if r < p3:
                return 3
            if r < p2:
                return 2
            return 1 if r < p2 + 0.2 + 0.4 * h else 0

        cname, rname = people[comp[0]].name, people[resp[0]].name if resp else "村委会"
        topic = texts.pick(rng, texts.SEPARATION_TOPIC) if t.factors["separation"] and rng.random() < 0.6 \
            else texts.pick(rng, texts.TOPIC[kind])
        if t.factors["prior_grudge"] and rng.random() < 0.4:
            topic = "积怨多年," + topic
        slots = {"name": cname, "other": rname, "topic": topic, "n": len(comp), "addr": addr,
                 "amount": texts.amount(rng), "rel": texts.pick(rng, texts.REL)}
        all_parties = ([party(people[i], "complainant", with_id=rng.random() < 0.9) for i in comp[:30]]
                       + [party(people[i], "respondent", with_id=rng.random() < 0.7) for i in resp])

        def add(rec: dict, ts: int) -> bool:
            ok = s.add(rec, ts)
            if ok:
                t.record_ids.append(rec["id"])
            return ok

        def gev(ts, text, status="reported", k=0, reporter="grid_worker", category="dispute") -> str:
            a = address_variant(addr, rng) if self.noisy and rng.random() < 0.1 else addr
            p = plc if a == addr else place(city, com, a, lat, lon)
            rid = s.new_id("WG", ts)
            add(build.grid_event(rid, p, grid_id, category, text.format(**slots), dispute_kind=kind,
                                 dispute_no=dno, status=status, attempts=k, reporter=reporter,
                                 parties=all_parties), ts)
            return rid

        def phone_call(ts, sev, who=None, call_type=None, text=None, disposition=None) -> str:
            who = who if who is not None else (comp[rng.randrange(len(comp))] if rng.random() < 0.75 or not resp
                                               else resp[0])
            p = people[who]
            line = "110" if (sev >= 2 or kind in ("marriage_family", "neighbour", "homestead_land")
                             and rng.random() < 0.7) else "12345"
            ct = call_type or ("threat" if sev >= 2 and rng.random() < 0.6 else
                               "domestic" if kind == "marriage_family" else
                               "wages" if kind == "wages" else
                               "complaint" if kind in ("property_mgmt", "consumer") else "dispute")
            caller = party(p, "caller", with_id=rng.random() < 0.6)
            a = addr
            if self.noisy:
                if rng.random() < 0.15:
                    caller["name"] = name_variant(caller["name"], rng)
                if rng.random() < 0.2:
                    a = address_variant(addr, rng)
            disp = disposition or (("dispatched" if rng.random() < 0.6 else "mediated_on_site") if line == "110"
                                   else ("referred" if rng.random() < 0.7 else "recorded"))
            rid = s.new_id("JJ" if line == "110" else "RX", ts)
            add(build.call(rid, line, caller, ct, plc if a == addr else place(city, com, a, lat, lon),
                           text or texts.call_text(rng, kind, sev, slots), disp, all_parties[:6]), ts)
            return rid

        def cam(ts, alert, conf, heads=0) -> None:
            add(build.video(s.new_id("XL", ts), camera, place(city, com, addr, estate.lat, estate.lon),
                            alert, conf, heads), ts)

        # opening: a registration, sometimes preceded by a call
        if rng.random() < 0.35:
            phone_call(t0, severity(heat(t0)))
            t_reg = t0 + 2 * HOUR + int(rng.random() * 40 * HOUR)
        else:
            t_reg = t0
        reporter = rng.choices(("grid_worker", "public", "mediation_committee"), (55, 20, 25))[0]
        reg_id = gev(t_reg, texts.pick(rng, texts.REGISTER), reporter=reporter)
        if rng.random() < 0.5:
            gev(t_reg + int((1 + rng.random() * 2) * DAY), texts.pick(rng, texts.VISIT_CALM), "reported", 0, category="visit")

        # calls: a renewal process whose gaps shrink with heat
        base_gap = {"frequent_contact": 1.0, "silent": 12.0, "escalating": 2.5}.get(style, 4.0) * DAY
        ts = t0 + int(rng.expovariate(1 / base_gap))
        while ts < end - HOUR:
            h = heat(ts)
            sev = severity(h)
            phone_call(ts, sev)
            if kind in GROUP_KINDS and rng.random() < 0.3:
                cam(ts + int(rng.random() * 1800), "gathering", round(rng.uniform(0.6, 0.95), 2),
                    max(3, len(comp) + rng.randint(-2, 10)))
            elif sev >= 1 and rng.random() < 0.04 + 0.35 * h * h:
                cam(ts - int(rng.random() * 600), "fight", round(rng.uniform(0.55, 0.95), 2), rng.randint(2, 5))
            if rng.random() < 0.15 + 0.3 * h:
                tense = rng.random() < h - 0.3
                gev(ts + int((0.3 + rng.random()) * DAY) // 1,
                    texts.pick(rng, texts.VISIT_TENSE if tense else texts.VISIT_CALM), "mediating", 0,
                    category="visit")
            ts += int(rng.expovariate(1 / (base_gap * max(0.08, 1.15 - h)))) + 600

        # mediation sessions (office hours)
        k, tm, status = 0, t_reg + int((1 + rng.random() * 3) * DAY), "reported"
        relapse = esc and rng.random() < 0.2
        while tm < end - DAY // 2:
            k += 1
            tm = (tm // DAY) * DAY + self.t_office()
            h = heat(tm)
            if relapse and k == 1:
                status, tmpl = "resolved", texts.pick(rng, texts.RESOLVED)  # settles, then flares up
            elif esc and tm + 8 * DAY > end and rng.random() < 0.55:
                status, tmpl = "mediation_failed", texts.pick(rng, texts.FAILED)
            else:
                status = "mediating"
                tmpl = texts.pick(rng, texts.MEDIATING_TENSE if rng.random() < h - 0.35 else texts.MEDIATING)
            slots["k"] = k
            gev(tm, tmpl, status, k, "mediation_committee")
            tm += int((3 + rng.random() * 5) * DAY)

        by = city.communities[com].district + "综治中心"
        if esc:
            if rng.random() < 0.5:
                cam(end - int(rng.random() * 600), "fight", round(rng.uniform(0.7, 0.99), 2), rng.randint(2, 8))
            slots.update(comp=cname, resp=rname)
            text = texts.pick(rng, texts.ESCALATION.get(kind, texts.ESCALATION_ANY)).format(**slots)
            witness = self._near(comp[0]) if rng.random() < 0.3 else comp[0]
            esc_id = phone_call(end, 3, who=witness, call_type="violence", text=text, disposition="dispatched")
            if esc_id in t.record_ids:
                t.escalates, t.escalated_at, t.escalation_record_id = True, end, esc_id
                fb_t = end + int((1 + rng.random() * 4) * DAY)
                self._feedback(t, esc_id, "escalated_criminal", fb_t, by)
            else:
                t.escalates_later = True
            return
        final = "resolved" if (rng.random() < 0.8 or style == "hard_negative") else "mediation_failed"
        if style == "frequent_contact" and rng.random() < 0.4:
            final = "mediation_failed"
        slots["k"] = k + 1
        gev(max(t_reg + HOUR, (end // DAY) * DAY + self.t_office()), texts.pick(rng, texts.RESOLVED if final == "resolved" else texts.FAILED),
            final, k + (final == "mediation_failed"), "mediation_committee")
        if rng.random() < 0.6:
            self._feedback(t, reg_id, final, end + int((1 + rng.random() * 6) * DAY), by)

    def _feedback(self, t: CaseTruth, record_id: str, outcome: str, ts: int, by: str) -> None:
        if record_id not in t.record_ids:      # the centre only answers about records that reached us
            return
        ts = (ts // DAY) * DAY + self.t_office()
        rid = self.s.new_id("FK", ts)
        if self.s.add(build.feedback(rid, record_id, outcome, texts.pick(self.rng, texts.FEEDBACK[outcome]), by), ts):
            t.feedback_ids.append(rid)
