"""The simulated population: households, people, 身份证 numbers, phones, key persons.

People live in households at an estate address (couples share an address, which is what
marriage disputes and neighbour disputes are about). An ID number is the home district's
6-digit code + birth date + a 3-digit sequence (odd for men) + the GB 11643 check digit.
About 0.5 % of adults are key persons (重点人员); about 0.15 % are frequent callers who ring
12345/110 about small things again and again (hard negatives for repeat-contact rules).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ident import id_check_digit
from .config import weighted
from .geography import City, estate_address

SURNAMES = ("王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 高 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 "
            "彭 曾 肖 田 董 袁 潘 于 蒋 蔡 余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 "
            "石 廖 贾 夏 韦 付 方 白 邹 孟 熊 秦 邱 江 尹 薛 闫 段 雷 侯 龙 史 陶 黎 贺 顾 毛 郝 龚 邵 "
            "万 钱 严 覃 武 戴 莫 孔").split()
# rough frequency weights: the top surnames are far more common
SURNAME_W = [max(1.0, 8.0 - i * 0.35) if i < 20 else max(0.4, 1.6 - (i - 20) * 0.015)
             for i in range(len(SURNAMES))]
GIVEN_M = ("伟 强 磊 军 勇 杰 涛 斌 超 明 刚 平 辉 鹏 华 飞 鑫 波 宁 龙 林 建 国 海 峰 东 文 俊 志 永 忠 "
           "德 成 兵 亮 浩 宇 晨 博 凯 家 子 天 瑞 彬 鸿 春 福 生 祥 荣 贵").split()
GIVEN_F = ("芳 娜 敏 静 丽 艳 娟 霞 燕 玲 桂 英 红 梅 琳 兰 萍 雪 婷 慧 洁 倩 颖 琴 莉 云 凤 秀 晶 欣 佳 "
           "悦 怡 萱 月 丹 琼 花 翠 珍 淑 爱 巧 美 金").split()
MOBILE_PREFIX = ("130 131 132 133 134 135 136 137 138 139 150 151 152 155 156 157 158 159 "
                 "170 176 177 180 181 182 183 185 186 187 188 189 191 198 199").split()
KP_CATEGORIES = ("released_prisoner", "drug_user", "community_correction", "severe_mental",
                 "petitioner", "unbalanced")
KP_WEIGHTS = (25, 20, 18, 15, 12, 10)
HOMOPHONES = dict(zip("伟军涛斌明刚辉华丽静娟霞玲英红梅萍婷张王李刘陈杨林峰芳",
                      "玮钧韬彬铭钢晖桦莉靖鹃侠琳瑛虹玫苹亭章汪黎柳程阳琳锋方"))


@dataclass(slots=True)
class Person:
    idx: int
    name: str
    male: bool
    birth_year: int
    id_number: str
    phone: str | None
    address: str
    estate: int
    community: int
    lat: float
    lon: float
    household: int
    kp: str | None = None          # key-person category
    kp_level: int = 0
    frequent_caller: bool = False


@dataclass(slots=True)
class Population:
    people: list[Person]
    households: list[list[int]]     # person indices, the first two adults being a couple
    adults: list[int]
    key_persons: list[int]
    frequent_callers: list[int]
    by_community: list[list[int]]   # adults per community


def _given(rng, male: bool) -> str:
    pool = GIVEN_M if male else GIVEN_F
    r, n = rng.random, len(pool)
    if r() < 0.25:
        return pool[int(r() * n)]
    return pool[int(r() * n)] + pool[int(r() * n)]


def build_population(cfg, city: City, rng) -> Population:
    target = max(200, int(20000 * cfg.scale))
    year0 = cfg.start.year
    people: list[Person] = []
    households: list[list[int]] = []
    ids: set[str] = set()
    phones: set[str] = set()
    n_est = len(city.estates)
    surname = weighted(rng, SURNAMES, SURNAME_W)
    rand = rng.random

    def phone() -> str:
        while True:
            p = MOBILE_PREFIX[int(rand() * len(MOBILE_PREFIX))] + f"{int(rand() * 10 ** 8):08d}"
            if p not in phones:
                phones.add(p)
                return p

    def person(sur: str, male: bool, age: int, h: int, est, addr: str) -> None:
        by = year0 - age
        com = city.communities[est.community]
        while True:
            month, day = 1 + int(rand() * 12), 1 + int(rand() * 28)
            seq = int(rand() * 500) * 2 + (1 if male else 0)
            first17 = f"{com.district_code}{by:04d}{month:02d}{day:02d}{seq:03d}"
            if first17 not in ids:
                ids.add(first17)
                break
        p = Person(len(people), sur + _given(rng, male), male, by, first17 + id_check_digit(first17),
                   phone() if age >= 12 else None, addr, est.idx, est.community,
                   round(est.lat + (rand() - 0.5) * 6e-4, 6),
                   round(est.lon + (rand() - 0.5) * 6e-4, 6), h)
        people.append(p)
        households[h].append(p.idx)

    while len(people) < target:
        est = city.estates[rng.randrange(n_est)]
        addr = estate_address(city, est, rng)
        h = len(households)
        households.append([])
        size = rng.choices((1, 2, 3, 4, 5), (14, 30, 30, 18, 8))[0]
        age = rng.randint(22, 78)
        sur = surname()
        male = rng.random() < 0.5 if size == 1 else True
        person(sur, male, age, h, est, addr)
        if size >= 2:
            person(surname(), False, max(20, age + rng.randint(-5, 3)), h, est, addr)
        for _ in range(size - 2):
            if age > 50 and rng.random() < 0.3:
                kid_age = age - rng.randint(22, 34)
            else:
                kid_age = max(0, age - rng.randint(22, 36))
            person(sur, rng.random() < 0.52, kid_age, h, est, addr)
    adults = [p.idx for p in people if year0 - p.birth_year >= 18]
    by_community: list[list[int]] = [[] for _ in city.communities]
    for i in adults:
        by_community[people[i].community].append(i)
    n_kp = max(3, int(len(people) * 0.005))
    key_persons = sorted(rng.sample(adults, n_kp))
    for i in key_persons:
        people[i].kp = rng.choices(KP_CATEGORIES, KP_WEIGHTS)[0]
        people[i].kp_level = rng.choices((1, 2, 3, 4), (40, 35, 18, 7))[0]
    frequent = sorted(rng.sample(adults, max(2, int(len(people) * 0.0015))))
    for i in frequent:
        people[i].frequent_caller = True
    return Population(people, households, adults, key_persons, frequent, by_community)


def party(p: Person, role: str, *, with_id: bool = True) -> dict:
    d = {"role": role, "name": p.name}
    if p.phone:
        d["phone"] = p.phone
    if with_id:
        d["id_number"] = p.id_number
    return d


def name_variant(name: str, rng) -> str:
    """A typo or variant of a name as a call taker might write it (homophone, dropped char)."""
    r = rng.random()
    if r < 0.6:
        chars = [i for i, ch in enumerate(name) if ch in HOMOPHONES]
        if chars:
            i = chars[rng.randrange(len(chars))]
            return name[:i] + HOMOPHONES[name[i]] + name[i + 1:]
    if r < 0.8 and len(name) == 3:
        return name[:2]                        # given name cut short
    return name[0] + ("先生" if rng.random() < 0.5 else "女士")


def address_variant(addr: str, rng) -> str:
    """The same address written differently: 栋→号楼, dropped 室, added 甘肃省/兰州 prefix."""
    r = rng.random()
    if r < 0.35:
        return addr.replace("栋", "号楼", 1)
    if r < 0.6:
        return addr.removesuffix("室")
    if r < 0.8:
        return "甘肃省" + addr
    return addr.replace("单元", "单元 ", 1)
