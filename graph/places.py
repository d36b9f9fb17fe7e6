"""Places on the map: the site registry (schools, dangerous waters) and recent camera incidents,
indexed by grid cell so that "within R metres of" is a few dict lookups, not a scan.

Records carry ``place.lat``/``place.lon`` (WGS-84) when the source knows them.  Distances use the
equirectangular approximation (under 0.1 % off at city scale, far below a site's radius).
Nothing here holds personal data: site names, camera incidents (their type, time and place).

>>> p = Places()
>>> p.add_site("SCH-1", "school", "团结实验小学", 36.0700, 103.8543, 200.0)
>>> [s.name for s in p.sites_near(36.0710, 103.8543)]   # ~111 m north of the school
['团结实验小学']
>>> p.sites_near(36.0730, 103.8543)                     # ~334 m: outside its 200 m
[]
>>> p.add_incident("fight", 36.0700, 103.8500, t=1000.0)
>>> p.incidents_near(36.0702, 103.8500, t=2000.0), p.incidents_near(36.0702, 103.8500, t=1000.0 + 2 * 86400)
(1, 0)
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from typing import Any

CELL_DEG = 0.005            # ~555 m of latitude; a cell's neighbours cover the query radius
M_PER_DEG = 111_195.0       # metres per degree of latitude (mean Earth radius)
INCIDENT_TYPES = frozenset({"fight", "gathering"})   # camera incidents that matter to a dispute
INCIDENT_RADIUS_M = 300.0
INCIDENT_WINDOW_S = 86_400.0
KEEP_S = 3 * 86_400.0       # incidents older than this (event time) are forgotten
BIG_RADIUS_M = 5_000.0      # sites wider than this (a reservoir) are checked one by one


def metres(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance in metres (equirectangular).

    >>> round(metres(36.0, 103.0, 36.001, 103.0))
    111
    """
    x = (lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    return M_PER_DEG * math.hypot(lat2 - lat1, x)


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return int(math.floor(lat / CELL_DEG)), int(math.floor(lon / CELL_DEG))


def _span(lat: float, radius_m: float) -> tuple[int, int]:
    """How many cells a radius reaches north/south and east/west of a point."""
    dlat = radius_m / M_PER_DEG
    dlon = dlat / max(0.05, math.cos(math.radians(lat)))
    return int(math.ceil(dlat / CELL_DEG)), int(math.ceil(dlon / CELL_DEG))


@dataclass(frozen=True, slots=True)
class SiteInfo:
    site_id: str
    site_type: str      # school | water | other
    name: str
    lat: float
    lon: float
    radius_m: float


class Places:
    """Sites by cell (each site in every cell its radius touches) and recent incidents by cell."""

    def __init__(self) -> None:
        self.sites: dict[str, SiteInfo] = {}
        self._site_cells: dict[tuple[int, int], list[SiteInfo]] = {}
        self._wide: list[SiteInfo] = []
        # per cell, (t, lat, lon) sorted by event time: a query bisects to its time window
        self._inc_cells: dict[tuple[int, int], list[tuple[float, float, float]]] = {}
        # (time, cell) of every kept incident, a heap: late alerts arrive out of time order, and
        # prune must reach each once it is old (a queue in arrival order kept some behind newer)
        self._inc_order: list[tuple[float, tuple[int, int]]] = []

    # -- the site registry ----------------------------------------------------------------
    def add_site(self, site_id: str, site_type: str, name: str, lat: float, lon: float,
                 radius_m: float) -> None:
        """Register (or move) a site."""
        if site_id in self.sites:
            self._drop_site(self.sites.pop(site_id))
        s = SiteInfo(site_id, site_type, name, lat, lon, radius_m)
        self.sites[site_id] = s
        if radius_m > BIG_RADIUS_M:
            self._wide.append(s)
            return
        ci, cj = _cell(lat, lon)
        di, dj = _span(lat, radius_m)
        for i in range(ci - di, ci + di + 1):
            for j in range(cj - dj, cj + dj + 1):
                self._site_cells.setdefault((i, j), []).append(s)

    def _drop_site(self, s: SiteInfo) -> None:
        if s in self._wide:
            self._wide.remove(s)
        for cell in [c for c, ss in self._site_cells.items() if s in ss]:
            self._site_cells[cell] = [x for x in self._site_cells[cell] if x is not s]

    def sites_near(self, lat: float, lon: float, site_type: str | None = None) -> list[SiteInfo]:
        """The sites whose radius holds the point, nearest first."""
        found = [(metres(lat, lon, s.lat, s.lon), s)
                 for s in (*self._site_cells.get(_cell(lat, lon), ()), *self._wide)
                 if site_type is None or s.site_type == site_type]
        return [s for d, s in sorted(found, key=lambda ds: ds[0]) if d <= s.radius_m]

    # -- camera incidents -----------------------------------------------------------------
    def add_incident(self, alert_type: str, lat: float, lon: float, t: float) -> None:
        """A camera incident at event time ``t`` (epoch seconds); other alert types are ignored."""
        if alert_type not in INCIDENT_TYPES:
            return
        cell = _cell(lat, lon)
        q = self._inc_cells.setdefault(cell, [])
        if not q or q[-1][0] <= t:
            q.append((t, lat, lon))
        else:   # a late alert: keep the cell in time order
            insort(q, (t, lat, lon))
        heappush(self._inc_order, (t, cell))

    def incidents_near(self, lat: float, lon: float, t: float, radius_m: float = INCIDENT_RADIUS_M,
                       within_s: float = INCIDENT_WINDOW_S) -> int:
        """Incidents within ``radius_m`` in the ``within_s`` up to ``t`` (event time)."""
        ci, cj = _cell(lat, lon)
        di, dj = _span(lat, radius_m)
        # ``metres`` inlined (squared, in degrees of latitude): this runs for most records
        kx = math.cos(math.radians(lat))
        r2 = (radius_m / M_PER_DEG) ** 2
        lo_t, hi_t = (t - within_s, math.inf), (t, math.inf)
        cells, n = self._inc_cells, 0
        edge = r2 * 1.000001   # (a cell is skipped only when clearly beyond: float slack)
        for i in range(ci - di, ci + di + 1):
            # how far the cell's nearest point is from the query, north-south then east-west
            dy = max(i * CELL_DEG - lat, lat - (i + 1) * CELL_DEG, 0.0)
            for j in range(cj - dj, cj + dj + 1):
                q = cells.get((i, j))
                if not q:
                    continue
                dx = max(j * CELL_DEG - lon, lon - (j + 1) * CELL_DEG, 0.0) * kx
                if dy * dy + dx * dx > edge:
                    continue   # the whole cell lies outside the radius
                # (t - within_s, t]: after every entry at t - within_s, up to every entry at t
                for k in range(bisect_right(q, lo_t), bisect_right(q, hi_t)):
                    _, la, lo = q[k]
                    x = (lo - lon) * kx
                    if (la - lat) ** 2 + x * x <= r2:
                        n += 1
        return n

    def prune(self, before: float) -> None:
        """Forget incidents older than ``before`` (event time, epoch seconds)."""
        order, cells = self._inc_order, self._inc_cells
        while order and order[0][0] < before:
            _, cell = heappop(order)
            q = cells.get(cell)
            if q and q[0][0] < before:
                del q[:bisect_left(q, (before,))]
            if q is not None and not q:
                del cells[cell]

    # -- state (snapshots) ----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The incidents (the sites come back with the registry)."""
        return {"incidents": [[t, la, lo] for q in self._inc_cells.values() for t, la, lo in q]}

    def restore(self, state: dict[str, Any]) -> None:
        self._inc_cells.clear()
        self._inc_order.clear()
        for t, la, lo in sorted(state.get("incidents", []), key=lambda e: e[0]):
            cell = _cell(la, lo)
            self._inc_cells.setdefault(cell, []).append((t, la, lo))
            self._inc_order.append((t, cell))
        heapify(self._inc_order)


class PlaceFeatures:
    """``CaseContext.features`` for one record: the ``graph.*`` names of rules/lang/names.py,
    worked out only when a condition asks (most records meet no rule that reads them);
    ``party_cases``/``address_cases`` are the linker's counts (``LinkResult``), set as
    ``linked`` by the pipeline."""

    __slots__ = ("places", "place", "at", "_memo", "linked")

    def __init__(self, places: Places, place: Any, at: Any):
        # (made for every record: keep it to a few stores; work waits for a question)
        self.places, self.place, self.at, self._memo = places, place, at, {}
        self.linked: Any = None   # the linker's answer (party_cases, address_cases), if any

    PLACE_KEYS = ("near_school", "near_water", "incidents_nearby")

    def all(self) -> dict[str, Any]:
        """Every place name worked out now (for a backtest tape); {} without coordinates."""
        if self.place.lat is None or self.place.lon is None:
            return {}
        for k in self.PLACE_KEYS:
            self.get(k)
        return dict(self._memo)

    @classmethod
    def preset(cls, values: dict[str, Any] | None, place: Any) -> "PlaceFeatures":
        """Features answered from ``values`` (what ``all`` gave when the tape was made)."""
        f = cls(None, place, None)   # (no map: a key not in ``values`` reads its default)
        if values:
            f._memo.update(values)
        return f

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._memo:
            return self._memo[key]
        if key == "party_cases" or key == "address_cases":
            return getattr(self.linked, key) if self.linked is not None else 0
        lat, lon = self.place.lat, self.place.lon
        if lat is None or lon is None or self.places is None:
            v = default
        elif key == "near_school":
            v = bool(self.places.sites_near(lat, lon, "school"))
        elif key == "near_water":
            v = bool(self.places.sites_near(lat, lon, "water"))
        elif key == "incidents_nearby":
            v = self.places.incidents_near(lat, lon, self.at.timestamp())
        else:
            v = default
        self._memo[key] = v
        return v

    def __bool__(self) -> bool:   # (``graph_getter`` tests ``if feats``)
        return True
