"""Category codes shared by every stream, with their Chinese labels.

Codes are short English identifiers (stable on the wire and in ClickHouse);
``LABELS`` gives the Simplified Chinese words shown to users.  Other systems'
own codes are translated into these by a mapping file (see ``streams.mapping``).
"""
from __future__ import annotations

from enum import Enum
from operator import attrgetter


class Code(str, Enum):
    """A category code; ``str(code)`` is its wire value, ``code.label`` its Chinese name.

    >>> DisputeKind.NEIGHBOUR.value, DisputeKind("neighbour") is DisputeKind.NEIGHBOUR
    ('neighbour', True)
    """

    # ``Enum.value`` is a Python-level descriptor; pydantic reads ``.value`` for every code it
    # serialises (five per grid event stored), so a C-level getter makes bodies ~20 % cheaper
    value = property(attrgetter("_value_"))  # type: ignore[assignment]

    @property
    def label(self) -> str:
        return LABELS.get(self.value, self.value)

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


class DisputeKind(Code):
    MARRIAGE_FAMILY = "marriage_family"
    NEIGHBOUR = "neighbour"
    HOMESTEAD_LAND = "homestead_land"
    WAGES = "wages"
    PROPERTY_MGMT = "property_mgmt"
    PRIVATE_LOAN = "private_loan"
    TRAFFIC = "traffic"
    MEDICAL = "medical"
    LAND_REQUISITION = "land_requisition"
    CONSUMER = "consumer"
    OTHER = "other"


class DisputeStatus(Code):
    REPORTED = "reported"
    MEDIATING = "mediating"
    MEDIATION_FAILED = "mediation_failed"
    RESOLVED = "resolved"


class GridEventCategory(Code):
    DISPUTE = "dispute"          # 矛盾纠纷登记
    VISIT = "visit"              # 走访 / follow-up visit
    HAZARD = "hazard"            # 安全隐患
    OTHER = "other"


class ReporterKind(Code):
    GRID_WORKER = "grid_worker"
    PUBLIC = "public"            # 随手拍
    MEDIATION_COMMITTEE = "mediation_committee"


class PartyRole(Code):
    COMPLAINANT = "complainant"
    RESPONDENT = "respondent"
    PARTY = "party"
    CALLER = "caller"
    WITNESS = "witness"
    SUBJECT = "subject"          # the person a registry entry or face match is about


class CallLine(Code):
    POLICE_110 = "110"
    HOTLINE_12345 = "12345"


class CallType(Code):
    DISPUTE = "dispute"
    VIOLENCE = "violence"
    THREAT = "threat"
    DOMESTIC = "domestic"
    NOISE = "noise"
    HELP = "help"
    COMPLAINT = "complaint"
    WAGES = "wages"
    FRAUD = "fraud"
    CONSULT = "consult"
    OTHER = "other"


class Disposition(Code):
    DISPATCHED = "dispatched"
    MEDIATED_ON_SITE = "mediated_on_site"
    REFERRED = "referred"
    RECORDED = "recorded"
    NO_ACTION = "no_action"


class AlertType(Code):
    FIGHT = "fight"
    GATHERING = "gathering"
    LOITERING = "loitering"
    NEAR_WATER = "near_water"
    FACE_MATCH = "face_match"
    OTHER = "other"


class Outcome(Code):
    RESOLVED = "resolved"
    MEDIATION_FAILED = "mediation_failed"
    ESCALATED_CRIMINAL = "escalated_criminal"
    FALSE_ALARM = "false_alarm"


class KeyPersonCategory(Code):
    DRUG_USER = "drug_user"
    SEVERE_MENTAL = "severe_mental"
    COMMUNITY_CORRECTION = "community_correction"
    RELEASED_PRISONER = "released_prisoner"
    PETITIONER = "petitioner"
    UNBALANCED = "unbalanced"


class SiteType(Code):
    SCHOOL = "school"
    WATER = "water"
    OTHER = "other"


class Level(Code):
    RED = "red"
    ORANGE = "orange"
    YELLOW = "yellow"
    BLUE = "blue"


LEVEL_RANK = {Level.BLUE: 1, Level.YELLOW: 2, Level.ORANGE: 3, Level.RED: 4}

LABELS: dict[str, str] = {
    # dispute kinds
    "marriage_family": "婚姻家庭", "neighbour": "邻里纠纷", "homestead_land": "土地/宅基地",
    "wages": "劳资/欠薪", "property_mgmt": "物业纠纷", "private_loan": "民间借贷",
    "traffic": "交通事故", "medical": "医患纠纷", "land_requisition": "征地拆迁",
    "consumer": "消费纠纷", "other": "其他",
    # statuses
    "reported": "已登记", "mediating": "调解中", "mediation_failed": "调解失败",
    # grid event categories
    "dispute": "矛盾纠纷", "visit": "走访回访", "hazard": "安全隐患",
    # reporters
    "grid_worker": "网格员", "public": "群众随手拍", "mediation_committee": "调解委员会",
    # roles
    "complainant": "申请人", "respondent": "被申请人", "party": "当事人", "caller": "报警人",
    "witness": "证人", "subject": "当事人",
    # call types
    "violence": "打架斗殴/伤害", "threat": "威胁恐吓", "domestic": "家庭暴力", "noise": "噪音扰民",
    "help": "求助", "complaint": "投诉", "fraud": "诈骗", "consult": "咨询",
    # dispositions
    "dispatched": "已出警", "mediated_on_site": "现场调解", "referred": "转办",
    "recorded": "登记备案", "no_action": "无需处置",
    # video alerts
    "fight": "打架斗殴", "gathering": "人员聚集", "loitering": "徘徊滞留",
    "near_water": "危险水域靠近", "face_match": "重点人员人脸比中",
    # outcomes
    "resolved": "化解", "escalated_criminal": "民转刑", "false_alarm": "误报",
    # key persons
    "drug_user": "吸毒人员", "severe_mental": "严重精神障碍患者",
    "community_correction": "社区矫正人员", "released_prisoner": "刑满释放人员",
    "petitioner": "信访重点人员", "unbalanced": "心理失衡人员",
    # sites
    "school": "学校", "water": "危险水域",
    # levels
    "red": "红色", "orange": "橙色", "yellow": "黄色", "blue": "蓝色",
    # streams
    "grid_event": "网格事件", "call": "110/12345来电", "video_alert": "雪亮视频告警",
    "feedback": "处置反馈",
}
# "mediation_failed" as an outcome reads the same as the status; "110"/"12345" read as themselves.
