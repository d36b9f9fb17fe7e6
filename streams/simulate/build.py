"""Plain-dict builders for every record kind, in exactly the schemas of ``streams.records``.

Dicts, not pydantic models: the simulator writes millions of them. ``occurred_at`` is left
empty here and filled in by the scheduler when it serialises the record.
"""
from __future__ import annotations

SRC_GRID, SRC_110, SRC_12345, SRC_VIDEO, SRC_CENTRE = "wg", "110", "12345", "xl", "centre"


def grid_event(rid: str, place: dict, grid_id: str, category: str, text: str, *,
               dispute_kind: str | None = None, dispute_no: str | None = None,
               status: str = "reported", attempts: int = 0, reporter: str = "grid_worker",
               parties: list | None = None) -> dict:
    d = {"kind": "grid_event", "id": rid, "occurred_at": "", "source": SRC_GRID, "place": place,
         "grid_id": grid_id, "category": category}
    if dispute_kind:
        d["dispute_kind"] = dispute_kind
    if dispute_no:
        d["dispute_no"] = dispute_no
    d["status"] = status
    d["mediation_attempts"] = attempts
    d["reporter"] = reporter
    if reporter == "grid_worker":
        d["reporter_id"] = "WGY-" + grid_id
    d["parties"] = parties or []
    d["text"] = text
    return d


def call(rid: str, line: str, caller: dict, call_type: str, place: dict, text: str,
         disposition: str, parties: list | None = None) -> dict:
    return {"kind": "call", "id": rid, "occurred_at": "", "source": line, "line": line,
            "caller": caller, "call_type": call_type, "place": place, "text": text,
            "disposition": disposition, "parties": parties or []}


def video(rid: str, camera_id: str, place: dict, alert_type: str, confidence: float,
          head_count: int = 0, matched: dict | None = None) -> dict:
    d = {"kind": "video_alert", "id": rid, "occurred_at": "", "source": SRC_VIDEO,
         "camera_id": camera_id, "place": place, "alert_type": alert_type,
         "confidence": confidence, "head_count": head_count}
    if matched:
        d["matched"] = matched
    return d


def feedback(rid: str, record_id: str, outcome: str, note: str, by: str) -> dict:
    return {"kind": "feedback", "id": rid, "occurred_at": "", "source": SRC_CENTRE,
            "record_id": record_id, "outcome": outcome, "note": note, "by": by}


def grid(rid: str, grid_id: str, name: str, region_code: str, centre: str) -> dict:
    return {"kind": "grid", "id": rid, "occurred_at": "", "grid_id": grid_id, "name": name,
            "region_code": region_code, "centre": centre}


def key_person(rid: str, person: dict, category: str, level: int, place: dict) -> dict:
    return {"kind": "key_person", "id": rid, "occurred_at": "", "person": person,
            "category": category, "risk_level": level, "place": place}


def camera(rid: str, camera_id: str, place: dict) -> dict:
    return {"kind": "camera", "id": rid, "occurred_at": "", "camera_id": camera_id, "place": place}


def site(rid: str, site_id: str, site_type: str, name: str, place: dict, radius_m: float) -> dict:
    return {"kind": "site", "id": rid, "occurred_at": "", "site_id": site_id,
            "site_type": site_type, "name": name, "place": place, "radius_m": radius_m}
