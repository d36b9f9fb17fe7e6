"""The simulated city's geography: districts, subdistricts, communities, grids, estates, sites.

Region codes are 12-digit 统计用区划代码 under a made-up city in Gansu (62): district ``k``
gets city ``99 - k // 60`` and district ``k % 60 + 1``, so ``629901...`` is the first one.
Every third district is a rural county (县): its subdistricts are towns (镇, codes 1xx) and
its communities villages (村, codes 2xx); urban ones have 街道 (0xx) and 社区 (0xx).
A community is cut into grids; each grid holds a few estates (小区) or village groups (组),
and every estate has a camera at its gate. Schools and dangerous waters are sites.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

DISTRICT_A = "河西 东岗 安宁 金城 西固 雁滩 兴隆 皋兰 永登 榆中 红古 阿干 五泉 白塔 黄河 秦王 定西 陇西 临洮 渭源".split()
DISTRICT_B = "", "新", "东", "西", "南", "北"
SUB_A = "张掖路 酒泉路 白银路 皋兰路 团结 铁路 伏龙坪 拱星墩 焦家湾 草场街 火车站 盐场 东岗西路 西湖 晏家坪 龚家湾 土门墩 秀川 敦煌路 西园 彭家坪 刘家堡 孔家崖 沙井驿 银滩路 十里店 培黎 西路 安宁堡 先锋路".split()
TOWN_A = "石洞 水阜 什川 忠和 九合 黑石 中川 秦川 上川 树屏 龙泉 柳泉 大同 苗圃 西岔 新营 连搭 定远 金崖 夏官营".split()
COMMUNITY_A = "团结 和平 幸福 建设 光明 友谊 民主 胜利 东方 长风 新华 振兴 文化 育才 曙光 春晖 朝阳 南山 北山 西津 东湖 红星 永安 吉祥 康乐 安康 瑞丰 金港 银河 华林".split()
VILLAGE_SURNAME = "王 李 张 刘 陈 杨 赵 马 魏 何 石 柳 杜 苏 郭 韩 高 孟 谢 岳".split()
VILLAGE_B = "家庄 家湾 家沟 家坪 家堡 家台 家岘 家川".split()
ESTATE_A = "阳光 金色 锦绣 兰亭 翠苑 华府 世纪 滨河 紫荆 丽景 万象 碧桂 欣园 和园 嘉园 东方 盛世 天庆 恒大 绿地".split()
ESTATE_B = "花园 小区 家园 名苑 新城 雅居 公寓 佳苑".split()
ROADS = "张掖路 庆阳路 中山路 天水路 平凉路 定西路 民主路 东岗路 南滨河路 北滨河路 雁滩路 西津路 建兰路 安宁路 金昌路 武都路 静宁路 临夏路 秦安路 永昌路".split()
SCHOOL_B = "小学 中学 实验小学 第二中学 幼儿园".split()
WATER_A = "黄河滩涂 水库 鱼塘 灌溉渠 池塘 砂坑积水 排洪沟".split()

BASE_LAT, BASE_LON = 36.06, 103.83


@dataclass(slots=True)
class Estate:
    idx: int
    name: str
    community: int
    grid_id: str
    road: str          # "庆阳路88号" or "" for a village group
    lat: float
    lon: float
    rural: bool
    camera_id: str = ""


@dataclass(slots=True)
class Community:
    idx: int
    code: str
    name: str
    district: str
    district_code: str
    sub: str
    rural: bool
    lat: float
    lon: float
    grids: list[str] = field(default_factory=list)
    estates: list[int] = field(default_factory=list)
    schools: list[int] = field(default_factory=list)
    waters: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Site:
    site_id: str
    site_type: str
    name: str
    community: int
    lat: float
    lon: float
    address: str
    radius_m: float
    camera_id: str = ""


@dataclass(slots=True)
class City:
    communities: list[Community]
    estates: list[Estate]
    grids: list[tuple[str, str, int]]          # (grid_id, name, community idx)
    sites: list[Site]
    district_codes: list[str]
    cameras: list[tuple[str, int, float, float, str]]  # (camera_id, community, lat, lon, address)
    by_district: dict[str, list[int]]          # district code -> community indices

    def region(self, c: int) -> str:
        return self.communities[c].code


def _district_name(k: int) -> tuple[str, bool]:
    rural = k % 3 == 2
    a = DISTRICT_A[k % len(DISTRICT_A)]
    b = DISTRICT_B[(k // len(DISTRICT_A)) % len(DISTRICT_B)]
    return b + a + ("县" if rural else "区"), rural


def build_city(cfg, rng) -> City:
    n_districts = max(1, round(3 * cfg.scale))
    communities: list[Community] = []
    estates: list[Estate] = []
    grids: list[tuple[str, str, int]] = []
    sites: list[Site] = []
    cameras: list[tuple[str, int, float, float, str]] = []
    by_district: dict[str, list[int]] = {}
    district_codes = []
    for k in range(n_districts):
        dname, rural = _district_name(k)
        dcode = f"62{99 - k // 60:02d}{k % 60 + 1:02d}"
        district_codes.append(dcode)
        by_district[dcode] = []
        # districts laid out on a ring around the centre, rural ones further out
        ang = 2 * math.pi * k / max(3, n_districts)
        rad = (0.03 if not rural else 0.12) + 0.01 * (k // 3)
        dlat, dlon = BASE_LAT + rad * math.sin(ang), BASE_LON + rad * math.cos(ang)
        for s in range(4):
            if rural:
                sname = TOWN_A[(k * 4 + s) % len(TOWN_A)] + "镇"
                scode = f"{101 + s:03d}"
            else:
                sname = SUB_A[(k * 4 + s) % len(SUB_A)] + "街道"
                scode = f"{1 + s:03d}"
            slat, slon = dlat + rng.uniform(-0.012, 0.012), dlon + rng.uniform(-0.012, 0.012)
            for c in range(5):
                if rural:
                    cname = VILLAGE_SURNAME[rng.randrange(len(VILLAGE_SURNAME))] + \
                        VILLAGE_B[rng.randrange(len(VILLAGE_B))] + "村"
                    ccode = f"{201 + c:03d}"
                else:
                    cname = COMMUNITY_A[(k * 20 + s * 5 + c) % len(COMMUNITY_A)] + "社区"
                    ccode = f"{1 + c:03d}"
                code = f"{dcode}{scode}{ccode}"
                ci = len(communities)
                com = Community(ci, code, cname, dname, dcode, sname, rural,
                                slat + rng.uniform(-0.005, 0.005), slon + rng.uniform(-0.005, 0.005))
                communities.append(com)
                by_district[dcode].append(ci)
                for g in range(4):
                    gid = f"{code}-{g + 1:02d}"
                    grids.append((gid, f"{cname}第{g + 1}网格", ci))
                    com.grids.append(gid)
                    for e in range(2 if not rural else 3):
                        elat = com.lat + rng.uniform(-0.002, 0.002)
                        elon = com.lon + rng.uniform(-0.002, 0.002)
                        if rural:
                            ename = f"{g * 3 + e + 1}组"
                            road = ""
                        else:
                            ename = ESTATE_A[rng.randrange(len(ESTATE_A))] + ESTATE_B[rng.randrange(len(ESTATE_B))]
                            road = f"{ROADS[rng.randrange(len(ROADS))]}{rng.randint(1, 300)}号"
                        est = Estate(len(estates), ename, ci, gid, road, round(elat, 6), round(elon, 6), rural)
                        est.camera_id = f"CAM-{code}-{len(com.estates) + 1:02d}"
                        cameras.append((est.camera_id, ci, est.lat, est.lon,
                                        f"{dname}{sname}{cname}{road}{ename}" + ("" if rural else "门口")))
                        com.estates.append(est.idx)
                        estates.append(est)
                if c % 2 == 0:
                    _add_site(rng, com, sites, cameras, "school", dname, sname)
            # one dangerous water per subdistrict (two in the countryside)
            for _ in range(2 if rural else 1):
                _add_site(rng, communities[-1 - rng.randrange(5)], sites, cameras, "water", dname, sname)
    return City(communities, estates, grids, sites, district_codes, cameras, by_district)


def _add_site(rng, com: Community, sites, cameras, kind: str, dname: str, sname: str) -> None:
    lat = round(com.lat + rng.uniform(-0.003, 0.003), 6)
    lon = round(com.lon + rng.uniform(-0.003, 0.003), 6)
    n = len(sites) + 1
    if kind == "school":
        name = com.name.removesuffix("社区").removesuffix("村") + SCHOOL_B[rng.randrange(len(SCHOOL_B))]
        sid, radius = f"SCH-{n:04d}", 200.0
        com.schools.append(len(sites))
    else:
        name = com.name.removesuffix("社区").removesuffix("村") + WATER_A[rng.randrange(len(WATER_A))]
        sid, radius = f"WAT-{n:04d}", 100.0
        com.waters.append(len(sites))
    addr = f"{dname}{sname}{com.name}{name}"
    cam = f"CAM-{sid}"
    cameras.append((cam, com.idx, lat, lon, addr))
    sites.append(Site(sid, kind, name, com.idx, lat, lon, addr, radius, cam))


def estate_address(city: City, e: Estate, rng) -> str:
    """A home address inside an estate: 区+路号+小区+栋单元室, or 县+镇+村组+号 in the country."""
    com = city.communities[e.community]
    if e.rural:
        return f"{com.district}{com.sub}{com.name}{e.name}{rng.randint(1, 80)}号"
    floor = rng.randint(1, 18)
    return (f"{com.district}{e.road}{e.name}{rng.randint(1, 24)}栋{rng.randint(1, 4)}单元"
            f"{floor}{rng.randint(1, 4):02d}室")


def estate_label(city: City, e: Estate) -> str:
    """An estate as an address without the flat: 区+路号+小区, or 县+镇+村+组."""
    com = city.communities[e.community]
    if e.rural:
        return f"{com.district}{com.sub}{com.name}{e.name}"
    return f"{com.district}{e.road}{e.name}"


def place(city: City, c: int, address: str, lat: float, lon: float) -> dict:
    return {"region_code": city.communities[c].code, "address": address, "lat": lat, "lon": lon}
