"""Malformed records: a corrupted copy (with a fresh id) of an event that was just emitted.

Each corruption is built so that ``streams.codec.decode`` rejects it with one known reason,
except ``unknown_region``: a well-formed 12-digit code in the right province that is not a
grid region of this city, which decodes fine and is rejected by the engine against the grid
registry. The truth file lists every malformed line with its expected reason.
"""
from __future__ import annotations

import json

from .schedule import dumps

REASONS = ("malformed_json", "missing_field", "bad_type", "bad_id_number", "bad_phone",
           "unknown_category", "unknown_region", "unknown_kind", "unknown_field")
REASON_W = (20, 12, 12, 12, 6, 12, 16, 5, 5)
REQUIRED = {"call": ("occurred_at", "place", "caller", "line", "call_type"),
            "grid_event": ("occurred_at", "place", "grid_id"),
            "video_alert": ("occurred_at", "place", "camera_id", "alert_type", "confidence")}
BAD_TYPES = {"call": [("occurred_at", "昨天下午三点"), ("parties", "张三")],
             "grid_event": [("occurred_at", "2026年5月1日"), ("mediation_attempts", "两次")],
             "video_alert": [("confidence", "高"), ("head_count", "十几个")]}
BAD_CODES = {"call": ("call_type", ["quarrel", "扰民", "assault"]),
             "grid_event": ("category", ["noise_complaint", "矛盾", "fire"]),
             "video_alert": ("alert_type", ["smoke", "crowd", "intrusion"])}


def _ids(d: dict) -> list[dict]:
    """Party dicts of a record that carry an id number."""
    out = [d[k] for k in ("caller", "matched") if isinstance(d.get(k), dict) and d[k].get("id_number")]
    out += [p for p in d.get("parties", []) if p.get("id_number")]
    return out


def corrupt(line: str, rng) -> tuple[str, str, str]:
    """(bad line, expected reason, its record id or '' when unreadable) from a good event line."""
    d = json.loads(line)
    kind = d["kind"]
    d["id"] = d["id"] + "-M"
    reason = rng.choices(REASONS, REASON_W)[0]
    if reason == "bad_id_number" and not _ids(d):
        reason = "missing_field"
    if reason == "bad_phone" and not (kind == "call" and d["caller"].get("phone")):
        reason = "unknown_field"
    if reason == "malformed_json":
        text = dumps(d)
        cut = 1 + rng.randrange(len(text) - 2)
        return text[:cut], reason, ""
    if reason == "missing_field":
        fields = REQUIRED[kind]
        del d[fields[rng.randrange(len(fields))]]
    elif reason == "bad_type":
        opts = BAD_TYPES[kind]
        k, v = opts[rng.randrange(len(opts))]
        d[k] = v
    elif reason == "bad_id_number":
        p = _ids(d)[0]
        good = p["id_number"]
        wrong = "0123456789X".replace(good[-1], "")
        p["id_number"] = good[:17] + wrong[rng.randrange(len(wrong))]
    elif reason == "bad_phone":
        d["caller"]["phone"] = d["caller"]["phone"][:-1]
    elif reason == "unknown_category":
        k, opts = BAD_CODES[kind]
        d[k] = opts[rng.randrange(len(opts))]
    elif reason == "unknown_region":
        # Lanzhou 城关区 (620102) is a real county code in Gansu, never one of the simulated city's
        d["place"]["region_code"] = f"620102{rng.randint(1, 20):03d}{rng.randint(1, 30):03d}"
    elif reason == "unknown_kind":
        d["kind"] = rng.choice(("sms_report", "wechat_message", "petition"))
    else:
        d["remark"] = "手工补录"
    return dumps(d), reason, d["id"]
