"""Background traffic not tied to any dispute case (the bulk of every stream).

Per day at scale 1: ~1,500 calls (noise, help, consult, complaint, fraud, other) from random
adults at their homes, plus a handful of frequent callers ringing again and again; ~1,300
video alerts (loitering at night, gatherings, a few false "fights", people near dangerous
water — many more in the May–September drowning season — and face matches of key persons,
some at the school gates); ~120 hazard reports and ~300 routine visits by grid workers
(some to key persons, naming them as the subject).
"""
from __future__ import annotations

import math

from . import build, texts
from .config import (DAY, weighted, PROFILE_CALLS, PROFILE_NIGHT, PROFILE_NOISE, PROFILE_OFFICE, PROFILE_VIDEO,
                     PROFILE_WATER, hour_sampler)
from .geography import City, estate_label, place
from .population import Population, address_variant, name_variant, party

CALL_TYPES = ("noise", "help", "consult", "complaint", "fraud", "other")
CALL_W = (25, 20, 20, 20, 8, 7)
VIDEO_TYPES = ("loitering", "gathering", "fight", "other")
VIDEO_W = (45, 38, 3, 14)


def _poisson(rng, lam: float) -> int:
    if lam < 30:
        # Knuth's method for small means
        limit, k, p = math.exp(-lam), 0, rng.random()
        while p > limit:
            k += 1
            p *= rng.random()
        return k
    return max(0, round(rng.gauss(lam, math.sqrt(lam))))


class NoiseMaker:
    def __init__(self, cfg, city: City, pop: Population, sched, rng):
        self.cfg, self.city, self.pop, self.s, self.rng = cfg, city, pop, sched, rng
        self.t_calls = hour_sampler(rng, PROFILE_CALLS)
        self.t_noise = hour_sampler(rng, PROFILE_NOISE)
        self.t_office = hour_sampler(rng, PROFILE_OFFICE)
        self.t_video = hour_sampler(rng, PROFILE_VIDEO)
        self.t_night = hour_sampler(rng, PROFILE_NIGHT)
        self.t_water = hour_sampler(rng, PROFILE_WATER)
        self.cam_place = [{"region_code": city.communities[c].code, "address": a, "lat": la, "lon": lo}
                          for (_, c, la, lo, a) in city.cameras]
        self.water_cams = [i for i, cam in enumerate(city.cameras) if cam[0].startswith("CAM-WAT")]
        self.school_cams = [i for i, cam in enumerate(city.cameras) if cam[0].startswith("CAM-SCH")]
        self.call_type = weighted(rng, CALL_TYPES, CALL_W)
        self.video_type = weighted(rng, VIDEO_TYPES, VIDEO_W)
        self.cams_by_com: list[list[int]] = [[] for _ in city.communities]
        for i, cam in enumerate(city.cameras):
            self.cams_by_com[cam[1]].append(i)

    def day(self, d: int) -> None:
        scale, rng = self.cfg.scale, self.rng
        base = d * DAY
        for _ in range(_poisson(rng, 1500 * scale)):
            self._call(base, self.pop.adults[int(rng.random() * len(self.pop.adults))])
        for p in self.pop.frequent_callers:
            if rng.random() < 0.5:
                self._call(base, p, frequent=True)
        for _ in range(_poisson(rng, 1250 * scale)):
            self._video(base)
        summer = 5 <= self.s.clock.month(base) <= 9
        for ci in self.water_cams:
            for _ in range(_poisson(rng, 2.5 if summer else 0.3)):
                self._alert(base + self.t_water(), ci, "near_water", rng.randint(1, 6))
        for p in self.pop.key_persons:
            if rng.random() < 0.3:
                self._face(base, p)
        for _ in range(_poisson(rng, 120 * scale)):
            self._hazard(base)
        for _ in range(_poisson(rng, 300 * scale)):
            self._visit(base)

    def _call(self, base: int, who: int, frequent: bool = False) -> None:
        rng, p = self.rng, self.pop.people[who]
        ct = ("noise", "complaint")[rng.random() < 0.5] if frequent else self.call_type()
        ts = base + (self.t_noise() if ct == "noise" else self.t_calls())
        line = "110" if ct in ("help", "fraud") or (ct == "noise" and rng.random() < 0.5) else "12345"
        text = texts.pick(rng, texts.NOISE_CALL[ct])
        if "{amount}" in text:
            text = text.format(amount=texts.amount(rng))
        if frequent and rng.random() < 0.3:
            text = "又一次反映" + text
        caller = party(p, "caller", with_id=rng.random() < 0.5)
        addr = p.address
        if self.cfg.noisy_names:
            if rng.random() < 0.15:
                caller["name"] = name_variant(caller["name"], rng)
            if rng.random() < 0.2:
                addr = address_variant(addr, rng)
        disp = ("dispatched" if ct in ("help", "fraud") else "no_action" if ct == "consult"
                else "recorded") if line == "110" else ("referred" if ct == "complaint" else "recorded")
        rid = self.s.new_id("JJ" if line == "110" else "RX", ts)
        self.s.add(build.call(rid, line, caller, ct, place(self.city, p.community, addr, p.lat, p.lon),
                              text, disp), ts, noise=True)

    def _alert(self, ts: int, ci: int, alert: str, heads: int = 0, matched: dict | None = None) -> None:
        rng = self.rng
        rid = self.s.new_id("XL", ts)
        self.s.add(build.video(rid, self.city.cameras[ci][0], self.cam_place[ci], alert,
                               round(0.5 + 0.49 * rng.random(), 2), heads, matched), ts, noise=True)

    def _video(self, base: int) -> None:
        rng = self.rng
        ci = int(rng.random() * len(self.city.cameras))
        alert = self.video_type()
        ts = base + (self.t_night() if alert == "loitering" else self.t_video())
        heads = {"gathering": rng.randint(3, 25), "fight": rng.randint(2, 4), "loitering": 1}.get(alert, 0)
        self._alert(ts, ci, alert, heads)

    def _face(self, base: int, who: int) -> None:
        rng, p = self.rng, self.pop.people[who]
        if self.school_cams and rng.random() < 0.1:
            ci = self.school_cams[int(rng.random() * len(self.school_cams))]
        else:
            cams = self.cams_by_com[p.community]
            ci = cams[int(rng.random() * len(cams))]
        self._alert(base + self.t_video(), ci, "face_match", 1, party(p, "subject"))

    def _hazard(self, base: int) -> None:
        rng, city = self.rng, self.city
        est = city.estates[int(rng.random() * len(city.estates))]
        ts = base + self.t_office()
        rid = self.s.new_id("WG", ts)
        addr = estate_label(city, est)
        self.s.add(build.grid_event(rid, place(city, est.community, addr, est.lat, est.lon), est.grid_id,
                                    "hazard", texts.pick(rng, texts.HAZARD),
                                    reporter="public" if rng.random() < 0.3 else "grid_worker"), ts, noise=True)

    def _visit(self, base: int) -> None:
        rng, city, pop = self.rng, self.city, self.pop
        kp_visit = rng.random() < 0.15 and pop.key_persons
        who = pop.people[pop.key_persons[int(rng.random() * len(pop.key_persons))] if kp_visit
                         else pop.adults[int(rng.random() * len(pop.adults))]]
        est = city.estates[who.estate]
        ts = base + self.t_office()
        rid = self.s.new_id("WG", ts)
        text = "入户走访重点人员,情况稳定" if kp_visit else texts.pick(rng, texts.ROUTINE_VISIT)
        self.s.add(build.grid_event(rid, place(city, who.community, who.address, who.lat, who.lon), est.grid_id,
                                    "visit", text, parties=[party(who, "subject")]), ts, noise=True)
