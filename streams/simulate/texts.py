"""Short Chinese texts for the simulated records: templates with slots per dispute kind and stage.

A call's text is a kind-specific opening (what the dispute is about) plus a phrase whose
severity the case's hidden heat decides: 0 calm, 1 quarrel/pushing, 2 threat (扬言/报复),
3 weapon, strangulation or self-harm (刀/砍/汽油/同归于尽/跳楼/掐脖/喝药). The same threat phrases
occur in disputes that calm down, so words alone do not give the answer away.
"""
from __future__ import annotations

TOPIC = {
    "marriage_family": ["感情不和", "家务琐事", "孩子抚养", "婆媳矛盾", "丈夫酗酒", "彩礼返还", "赡养老人"],
    "neighbour": ["楼上漏水", "装修噪音", "占用楼道堆放杂物", "停车位", "宠物狗扰民", "排污管道", "空调外机噪音"],
    "homestead_land": ["宅基地边界", "院墙地界", "修房占地", "门前树木归属", "排水沟走向", "承包地界"],
    "wages": ["工地拖欠工资", "包工头拖欠工钱", "饭店拖欠工资", "厂里欠薪", "装修队欠薪"],
    "property_mgmt": ["物业费", "停车收费", "电梯长期故障", "楼顶漏水维修", "小区门禁", "公共收益分配"],
    "private_loan": ["借款到期不还", "民间借贷利息", "担保借款", "合伙借款", "亲戚借钱不还"],
    "traffic": ["交通事故赔偿", "车辆剐蹭", "电动车撞人赔偿", "停车剐蹭"],
    "medical": ["手术后并发症", "医疗费用", "误诊", "住院期间摔伤"],
    "land_requisition": ["征地补偿标准", "拆迁安置房分配", "青苗补偿", "房屋拆迁评估"],
    "consumer": ["预付卡退费", "装修质量", "家电退换", "健身卡退费", "二手车交易"],
    "other": ["合伙经营", "遗产继承", "租房押金", "宠物伤人赔偿"],
}
SEPARATION_TOPIC = ["闹离婚", "分居后财产分割", "离婚后探视孩子", "提出离婚"]

OPEN = {
    "marriage_family": ["报警人称与{rel}因{topic}发生争吵", "{name}反映与{rel}因{topic}长期不和",
                        "报警人称{rel}因{topic}在家中吵闹"],
    "neighbour": ["报警人称与邻居因{topic}发生纠纷", "{name}反映邻居{topic}问题多次协商无果",
                  "报警人称楼下邻居因{topic}上门理论"],
    "homestead_land": ["报警人称与邻居因{topic}发生争执", "{name}反映邻居{topic}问题,双方互不相让",
                       "报警人称对方因{topic}强行施工"],
    "wages": ["{name}等{n}人反映{topic}{amount}元", "报警人称{topic},共计{amount}元,老板联系不上",
              "{n}名工人反映{topic},要求支付工资"],
    "property_mgmt": ["{name}反映小区{topic}问题,与物业发生争执", "业主反映{topic}问题物业不处理",
                      "报警人称与物业因{topic}发生口角"],
    "private_loan": ["{name}反映对方{topic},欠款{amount}元", "报警人称{topic},金额{amount}元,对方拒不还款",
                     "报警人称因{topic}与对方发生争执"],
    "traffic": ["报警人称因{topic}与对方协商不成", "{name}反映{topic}问题,对方拒绝赔偿"],
    "medical": ["{name}家属反映{topic}问题,要求医院赔偿", "报警人称因{topic}与医院发生纠纷"],
    "land_requisition": ["{name}等{n}名村民反映{topic}问题", "村民反映{topic}不合理,要求重新核定",
                         "{n}户村民因{topic}聚集到村委会"],
    "consumer": ["{name}反映{topic}问题,商家拒不处理", "报警人称因{topic}与商家发生争执"],
    "other": ["报警人称因{topic}与对方发生纠纷", "{name}反映{topic}问题,要求处理"],
}
SEVERITY = [
    ["请求协调处理", "希望有关部门介入", "要求处理", "请求调解"],
    ["双方发生口角,有推搡", "双方吵得很凶,有拉扯", "对方在门口大吵大闹", "双方互相辱骂,情绪激动", "对方砸门"],
    ["对方扬言要报复", "对方扬言要找人收拾他", "对方扬言要让他家好看", "对方说再不解决就要动手",
     "对方扬言要杀了他", "对方威胁要报复他家人"],
    ["对方拿着刀在门口", "对方扬言要砍人", "对方说要泼汽油同归于尽", "当事人称不解决就跳楼",
     "对方掐住报警人脖子", "当事人扬言要喝农药", "对方手持铁锹要砍", "对方拿刀威胁"],
]
SEVERITY_FAMILY_3 = ["丈夫掐住妻子脖子", "丈夫拿刀威胁", "对方扬言要同归于尽", "当事人站在楼顶称要跳楼",
                     "当事人扬言喝药"]
CLOSE = ["请求民警到场", "要求处理", "", "请派人来看看", "请尽快处理"]
REL = ["丈夫", "妻子", "前夫", "前妻", "儿子", "儿媳", "婆婆"]

REGISTER = ["{name}到社区反映与{other}因{topic}产生矛盾,已登记", "网格员走访发现{name}与{other}因{topic}存在纠纷",
            "群众随手拍反映{addr}{topic}纠纷", "{name}申请调解,与{other}因{topic}产生纠纷"]
MEDIATING = ["社区调委会组织双方第{k}次调解,{topic}问题未达成一致", "网格员联合司法所第{k}次调解{topic}纠纷",
             "第{k}次调解,双方分歧较大", "调解员上门做双方工作(第{k}次)"]
MEDIATING_TENSE = ["第{k}次调解,{name}情绪激动,扬言不解决就报复", "第{k}次调解中双方发生争吵,不欢而散",
                   "第{k}次调解,{name}称已经忍无可忍"]
RESOLVED = ["经调解双方达成协议,{topic}纠纷化解", "双方签订调解协议,纠纷已化解", "经多次调解,双方和解"]
FAILED = ["调解未果,{topic}问题分歧过大,引导通过诉讼解决", "调解失败,对方拒绝协商", "多次调解未果,已转相关部门"]
VISIT_CALM = ["网格员上门回访,双方情绪平稳", "回访{name},纠纷未再激化", "网格员电话回访,当事人表示满意",
              "网格员走访了解{topic}纠纷进展"]
VISIT_TENSE = ["网格员回访,{name}情绪激动,扬言要报复", "回访发现双方矛盾加深,{name}称要拼命",
               "网格员走访,{name}称对方再来就动刀", "回访时{name}情绪低落,称不想活了"]
ESCALATION = {
    "marriage_family": ["{resp}持刀将{comp}砍伤,已送医", "{resp}掐{comp}脖子致其受伤", "家中发生伤害案,{comp}被打伤住院"],
    "homestead_land": ["因{topic}纠纷{resp}持铁锹将{comp}打伤", "{resp}持刀砍伤{comp},伤势较重", "双方因{topic}持械斗殴,多人受伤"],
    "wages": ["讨薪人员与工地人员发生冲突,多人受伤", "{comp}持刀砍伤包工头", "讨薪人员泼洒汽油,有人受伤"],
    "land_requisition": ["村民与施工方发生冲突,多人受伤", "{comp}持刀伤人,已控制", "有人泼洒汽油引发冲突,多人受伤"],
}
ESCALATION_ANY = ["{resp}持刀将{comp}捅伤,已送医", "双方因{topic}发生打斗,{comp}被打伤", "{resp}持械伤人,{comp}头部受伤",
                  "{resp}将{comp}打成重伤"]
FEEDBACK = {"resolved": ["纠纷已化解,双方签订调解协议", "经回访纠纷已化解"],
            "mediation_failed": ["调解失败,已引导诉讼", "调解终止,转交相关部门"],
            "escalated_criminal": ["已立为刑事案件,嫌疑人被刑事拘留", "已转刑事侦查,嫌疑人到案"]}

# background noise
NOISE_CALL = {
    "noise": ["楼上深夜噪音扰民", "广场舞音响声音太大", "隔壁KTV噪音扰民", "工地夜间施工噪音", "楼下烧烤店吵闹"],
    "help": ["老人走失请求帮助寻找", "钥匙锁在屋里求助", "醉酒人员躺在路边", "孩子走失", "有人晕倒在路边"],
    "consult": ["咨询户口迁移政策", "咨询社保缴纳", "咨询居住证办理", "咨询低保申请条件", "咨询疫苗接种"],
    "fraud": ["接到冒充公检法电话被骗{amount}元", "网络刷单被骗{amount}元", "冒充客服退款被骗{amount}元",
              "老人被推销保健品骗{amount}元"],
    "complaint": ["小区垃圾清运不及时", "路灯不亮", "共享单车乱停放", "占道经营", "供暖不热"],
    "other": ["发现可疑人员", "有人在小区门口发传单", "路面有积水"],
}
HAZARD = ["消防通道被堵塞", "电动车楼道内充电", "井盖缺失", "危房有倒塌风险", "燃气管道老化", "广告牌松动",
          "河边护栏损坏", "小区监控损坏"]
ROUTINE_VISIT = ["走访独居老人", "走访空巢老人", "入户走访重点人员", "走访出租屋", "走访低保户"]


def pick(rng, seq):
    return seq[int(rng.random() * len(seq))]


def amount(rng) -> str:
    return str(rng.choice((2, 3, 5, 8, 12, 20, 35, 50, 80, 120)) * 1000 + rng.randrange(10) * 100)


def call_text(rng, kind: str, severity: int, slots: dict) -> str:
    head = pick(rng, OPEN[kind]).format(**slots)
    if severity == 3 and kind == "marriage_family" and rng.random() < 0.6:
        mid = pick(rng, SEVERITY_FAMILY_3)
    else:
        mid = pick(rng, SEVERITY[severity])
    tail = pick(rng, CLOSE)
    return f"{head},{mid}" + (f",{tail}" if tail and severity > 0 else "")
