"""Who is looking: the viewer of a console request, their jurisdiction and what they see in clear.

Every console route asks ``viewer(request)`` and
- filters what it reads by ``viewer.region_prefix`` (a 12-digit region code prefix: a 社区 user
  sees only that 社区, a 市 user the whole city);
- answers 404 for a warning outside the jurisdiction (``viewer.sees(region_code)`` is False), as if
  it did not exist, and records the attempt with ``note_denied``;
- passes records from the records store through ``present_records`` before they leave, which
  masks names, phones and ID numbers unless the viewer's role allows clear view (and audits
  every clear view).

>>> v = Viewer("wang", "王值班", "duty", "110105001001", "社区", clear=False)
>>> v.sees("110105001001"), v.sees("110105001002")
(True, False)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LEVELS = ("市", "区县", "街道", "社区")
# role -> may see ID numbers, phones and full names in clear
ROLES = {"admin": True, "leader": True, "analyst": False, "duty": False, "machine": False}


@dataclass(frozen=True)
class Viewer:
    login: str
    name: str
    role: str
    region_prefix: str  # "" = every region
    level: str
    clear: bool = False

    def sees(self, region_code: str | None) -> bool:
        return (region_code or "").startswith(self.region_prefix)


# auth off (loopback only): one local operator who sees every region, masked
LOCAL = Viewer("local", "本机值班员", "duty", "", "市", clear=False)


def viewer(request) -> Viewer:
    """The viewer the auth middleware put on the request (LOCAL when auth is off)."""
    return request.scope.get("yujing.viewer", LOCAL)


# --- masking of records from the records store -------------------------------------------------
import re  # noqa: E402  (kept beside the code that uses it)

from streams.privacy import mask_id, mask_name, mask_phone  # noqa: E402

_PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)")
_ID_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PARTY_KEYS = ("parties", "caller", "matched")


def _mask_party(p: Any, names: set[str]) -> Any:
    if not isinstance(p, dict):
        return p
    q = dict(p)
    if q.get("name"):
        names.add(q["name"])
        q["name"] = mask_name(q["name"])
    if q.get("phone"):
        q["phone"] = mask_phone(q["phone"])
    if q.get("id_number"):
        q["id_number"] = mask_id(q["id_number"])
    return q


def mask_text(text: str, names: set[str] = frozenset()) -> str:
    """Phones and ID numbers in free text, and the record's own party names, masked.

    >>> mask_text("王小明(13800138000)说要报复", {"王小明"})
    '王某某(138****8000)说要报复'
    """
    text = _ID_IN_TEXT.sub(lambda m: mask_id(m.group()), text)
    text = _PHONE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"\D", "", m.group())[-11:]), text)
    for n in sorted(names, key=len, reverse=True):
        if len(n) >= 2:
            text = text.replace(n, mask_name(n))
    return text


def mask_body(body: dict[str, Any]) -> dict[str, Any]:
    """A record body (as stored) with names, phones and ID numbers masked, texts included."""
    out = dict(body)
    names: set[str] = set()
    for key in _PARTY_KEYS:
        v = out.get(key)
        if isinstance(v, list):
            out[key] = [_mask_party(p, names) for p in v]
        elif isinstance(v, dict):
            out[key] = _mask_party(v, names)
    for key in ("text", "note"):
        if isinstance(out.get(key), str):
            out[key] = mask_text(out[key], names)
    return out


def present_records(request, records: list[dict[str, Any]], *, warning_id: str) -> list[dict[str, Any]]:
    """Records as this viewer may see them: masked unless the role allows clear view.

    Each record is a row of ``store.get_records`` (its ``body`` a dict). A clear view is
    audited (who, which warning, how many records)."""
    v = viewer(request)
    if v.clear:
        _note_clear_view(request, v, warning_id, len(records))
        return records
    return [{**r, "body": mask_body(r["body"])} if isinstance(r.get("body"), dict) else r
            for r in records]


def _note_clear_view(request, v: Viewer, warning_id: str, n: int) -> None:
    hook = request.scope.get("yujing.audit")
    if hook is not None:
        hook("view_clear", v, warning_id, f"{n} 条记录明文查看")


def note_denied(request, warning_id: str) -> None:
    """A viewer asked for a warning outside their jurisdiction: audited, answered 404."""
    hook = request.scope.get("yujing.audit")
    if hook is not None:
        hook("denied", viewer(request), warning_id, "辖区外访问")
