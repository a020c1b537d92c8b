"""Word lists the seed generator draws names, addresses and part descriptions from."""

from __future__ import annotations

# (province/city prefix for the name, full address prefix, district/street pool, postcode prefix)
CN_CITIES: list[tuple[str, str, list[str], str]] = [
    ("上海", "上海市", ["浦东新区张江路", "嘉定区安亭镇墨玉南路", "闵行区莘庄工业区春中路", "宝山区共和新路"], "20"),
    ("深圳", "广东省深圳市", ["宝安区福永街道凤凰路", "龙岗区坂田街道五和大道", "南山区科技园北区朗山路"], "51"),
    ("广州", "广东省广州市", ["白云区石井街道石沙路", "番禺区石基镇市莲路", "黄埔区开发大道"], "51"),
    ("苏州", "江苏省苏州市", ["工业园区星湖街", "吴中区木渎镇金枫路", "相城区黄埭镇春申路"], "21"),
    ("杭州", "浙江省杭州市", ["萧山区经济技术开发区建设一路", "余杭区临平街道世纪大道", "滨江区江南大道"], "31"),
    ("宁波", "浙江省宁波市", ["北仑区新碶街道明州路", "鄞州区首南街道天童南路"], "31"),
    ("济南", "山东省济南市", ["章丘区明水经济开发区", "历城区工业北路", "天桥区北园大街"], "25"),
    ("青岛", "山东省青岛市", ["黄岛区江山南路", "城阳区正阳路", "李沧区九水东路"], "26"),
    ("武汉", "湖北省武汉市", ["东西湖区金银湖路", "经济技术开发区东风大道", "江岸区解放大道"], "43"),
    ("成都", "四川省成都市", ["龙泉驿区经开区南四路", "新都区工业东区", "武侯区武科西一路"], "61"),
    ("重庆", "重庆市", ["九龙坡区西彭镇", "渝北区空港大道", "两江新区金渝大道"], "40"),
    ("天津", "天津市", ["滨海新区泰达大街", "西青区中北镇", "东丽区津塘公路"], "30"),
    ("北京", "北京市", ["大兴区经济技术开发区荣华中路", "顺义区林河工业区", "通州区马驹桥"], "10"),
    ("郑州", "河南省郑州市", ["经济技术开发区第九大街", "中牟县汽车产业集聚区"], "45"),
    ("长沙", "湖南省长沙市", ["长沙县星沙街道开元路", "雨花区环保科技园"], "41"),
    ("沈阳", "辽宁省沈阳市", ["铁西区北二路", "浑南区全运路"], "11"),
    ("合肥", "安徽省合肥市", ["经济技术开发区繁华大道", "肥东县撮镇"], "23"),
    ("厦门", "福建省厦门市", ["集美区杏林湾路", "海沧区新阳工业区"], "36"),
    ("石家庄", "河北省石家庄市", ["高新区长江大道", "藁城区经济开发区"], "05"),
    ("柳州", "广西壮族自治区柳州市", ["柳南区航银路", "鱼峰区屏山大道"], "54"),
]

CN_NAME_KEYWORDS = [
    "汽配贸易",
    "机电设备",
    "汽车零部件",
    "工程机械配件",
    "动力科技",
    "液压件",
    "轴承销售",
    "商用车配件",
    "物流装备",
    "农机配件",
    "重卡配件",
    "精工机械",
    "汽车服务",
    "电气设备",
]
CN_NAME_SUFFIXES = ["有限公司", "有限公司", "有限公司", "股份有限公司", "商贸有限公司"]

# (country code, language, currency, VAT rate %, city, postcode, street pool, name pool, phone prefix)
FOREIGN_PLACES: list[tuple[str, str, str, str, str, str, list[str], list[str], str]] = [
    (
        "DE", "en", "EUR", "19", "Hamburg", "22113",
        ["Billbrookdeich", "Moorfleeter Straße", "Halskestraße"],
        ["Nordwerk Ersatzteile GmbH", "Hanse Nutzfahrzeugteile GmbH", "Elbe Motorenservice GmbH"],
        "+49 40",
    ),
    (
        "DE", "en", "EUR", "19", "Stuttgart", "70565",
        ["Industriestraße", "Schelmenwasenstraße", "Motorstraße"],
        ["Schwaben Autoteile GmbH", "Neckar Fahrzeugtechnik GmbH", "Filder Landmaschinen KG"],
        "+49 711",
    ),
    (
        "DE", "en", "EUR", "19", "München", "80939",
        ["Frankfurter Ring", "Lilienthalallee", "Knorrstraße"],
        ["Isar Teilehandel GmbH", "Bavaria Baumaschinen Service GmbH", "Alpen Truck Parts GmbH"],
        "+49 89",
    ),
    (
        "DE", "en", "EUR", "19", "Köln", "51149",
        ["Welserstraße", "Frankfurter Straße", "Hansestraße"],
        ["Rhein Fahrzeugteile GmbH", "Domstadt Hydraulik GmbH & Co. KG", "Köln Nutzfahrzeuge Müller GmbH"],
        "+49 221",
    ),
    (
        "FR", "en", "EUR", "0", "Lyon", "69007",
        ["Rue de Gerland", "Avenue Jean Jaurès", "Boulevard de l'Industrie"],
        ["Rhône Pièces Auto SARL", "Lyon Poids Lourds Services SAS", "Ateliers Dubois Frères SA"],
        "+33 4",
    ),
    (
        "IT", "en", "EUR", "0", "Torino", "10156",
        ["Strada del Drosso", "Corso Giulio Cesare", "Via Pianezza"],
        ["Ricambi Piemonte S.r.l.", "Torino Veicoli Industriali S.p.A.", "Officine Bianchi S.r.l."],
        "+39 011",
    ),
    (
        "NL", "en", "EUR", "0", "Rotterdam", "3089 JB",
        ["Waalhaven Oostzijde", "Albert Plesmanweg", "Vlaardingweg"],
        ["Maas Truckonderdelen B.V.", "Rotterdam Parts Logistics B.V.", "Van Dijk Hydrauliek B.V."],
        "+31 10",
    ),
    (
        "PL", "en", "EUR", "0", "Poznań", "61-315",
        ["ul. Szwedzka", "ul. Gdyńska", "ul. Bałtycka"],
        ["Wielkopolska Części Sp. z o.o.", "Poznań Truck Serwis Sp. z o.o.", "Kowalski Hydraulika S.A."],
        "+48 61",
    ),
    (
        "ES", "en", "EUR", "0", "Zaragoza", "50197",
        ["Calle Río de Janeiro", "Avenida de Cataluña", "Polígono Plaza"],
        ["Recambios Aragón S.L.", "Zaragoza Maquinaria Pesada S.A.", "Talleres García Hermanos S.L."],
        "+34 976",
    ),
    (
        "US", "en", "USD", "0", "Dallas, TX", "75212",
        ["W Commerce St", "Singleton Blvd", "Irving Blvd"],
        ["Lone Star Truck Parts Inc.", "Trinity Fleet Supply LLC", "Big D Heavy Equipment Co."],
        "+1 214",
    ),
    (
        "US", "en", "USD", "0", "Chicago, IL", "60638",
        ["S Cicero Ave", "W 65th St", "S Harlem Ave"],
        ["Midwest Diesel Components Inc.", "Windy City Fleet Parts LLC", "Great Lakes Bearing Supply"],
        "+1 773",
    ),
    (
        "US", "en", "USD", "0", "Savannah, GA", "31408",
        ["Grange Rd", "Bourne Ave", "Crossgate Rd"],
        ["Coastal Equipment Parts LLC", "Peach State Tractor Supply Inc."],
        "+1 912",
    ),
    (
        "BR", "en", "USD", "0", "São Paulo", "04795-100",
        ["Avenida das Nações Unidas", "Rua Doutor Rubens Gomes Bueno"],
        ["Autopeças Paulista Ltda.", "São Paulo Máquinas Pesadas S.A."],
        "+55 11",
    ),
    (
        "AE", "en", "USD", "0", "Dubai", "00000",
        ["Jebel Ali Free Zone, Street N", "Al Quoz Industrial Area 3"],
        ["Gulf Heavy Parts FZE", "Desert Fleet Trading LLC"],
        "+971 4",
    ),
    (
        "MX", "en", "USD", "0", "Monterrey, NL", "66600",
        ["Avenida Miguel Alemán", "Carretera a Laredo"],
        ["Refacciones del Norte S.A. de C.V.", "Monterrey Diesel Partes S.A. de C.V."],
        "+52 81",
    ),
]

# (category, Chinese noun, English noun, weight range kg, CNY price range, pack sizes)
PART_TYPES: list[tuple[str, str, str, tuple[float, float], tuple[int, int], list[int]]] = [
    ("BRAKE", "刹车片", "Brake pad set", (0.8, 3.5), (80, 650), [1, 1, 2, 4]),
    ("BRAKE", "刹车盘", "Brake disc", (4.0, 18.0), (180, 1500), [1, 1, 2]),
    ("BRAKE", "制动分泵", "Brake wheel cylinder", (0.5, 2.5), (60, 420), [1, 2]),
    ("FILTER", "机油滤清器", "Oil filter", (0.3, 1.6), (18, 160), [1, 6, 12, 24]),
    ("FILTER", "空气滤清器", "Air filter element", (0.4, 4.0), (35, 520), [1, 2, 6]),
    ("FILTER", "燃油滤清器", "Fuel filter", (0.2, 1.2), (22, 240), [1, 6, 12]),
    ("FILTER", "液压滤芯", "Hydraulic filter element", (0.3, 2.5), (45, 680), [1, 2, 4]),
    ("IGNITION", "火花塞", "Spark plug", (0.05, 0.12), (12, 95), [4, 10, 20]),
    ("IGNITION", "点火线圈", "Ignition coil", (0.3, 0.9), (85, 480), [1, 2, 4]),
    ("BODY", "雨刮片", "Wiper blade", (0.15, 0.5), (15, 120), [2, 10, 20]),
    ("BEARING", "深沟球轴承", "Deep groove ball bearing", (0.05, 3.0), (8, 420), [1, 10, 20, 50]),
    ("BEARING", "圆锥滚子轴承", "Tapered roller bearing", (0.2, 6.0), (25, 900), [1, 5, 10]),
    ("SEAL", "O型密封圈", "O-ring", (0.002, 0.05), (0.8, 18), [25, 50, 100]),
    ("SEAL", "油封", "Oil seal", (0.01, 0.4), (4, 80), [10, 20, 50]),
    ("SEAL", "气缸垫", "Cylinder head gasket", (0.2, 1.5), (60, 880), [1, 2]),
    ("BELT", "正时皮带", "Timing belt", (0.2, 0.8), (60, 420), [1, 2, 5]),
    ("BELT", "多楔带", "Poly-V belt", (0.1, 0.6), (30, 260), [1, 5, 10]),
    ("ENGINE", "水泵", "Water pump", (1.5, 6.0), (160, 1800), [1]),
    ("ENGINE", "节温器", "Thermostat", (0.2, 0.8), (35, 320), [1, 5]),
    ("ENGINE", "喷油嘴", "Fuel injector", (0.3, 0.9), (280, 2600), [1, 4, 6]),
    ("ENGINE", "涡轮增压器", "Turbocharger", (6.0, 22.0), (2200, 16000), [1]),
    ("CLUTCH", "离合器片", "Clutch disc", (2.0, 9.0), (260, 2400), [1]),
    ("CHASSIS", "减震器", "Shock absorber", (2.0, 9.0), (180, 1600), [1, 2]),
    ("CHASSIS", "转向拉杆球头", "Tie rod end", (0.6, 2.8), (70, 520), [1, 2]),
    ("CHASSIS", "控制臂", "Control arm", (1.5, 7.0), (160, 1300), [1]),
    ("ELECTRIC", "发电机", "Alternator", (4.0, 12.0), (650, 4800), [1]),
    ("ELECTRIC", "起动机", "Starter motor", (3.0, 14.0), (680, 5200), [1]),
    ("ELECTRIC", "氧传感器", "Oxygen sensor", (0.1, 0.3), (120, 980), [1, 2]),
    ("ELECTRIC", "ABS传感器", "ABS wheel speed sensor", (0.08, 0.3), (90, 560), [1, 2]),
    ("ELECTRIC", "继电器", "Relay", (0.02, 0.1), (6, 85), [10, 20, 50]),
    ("ELECTRIC", "保险丝", "Fuse", (0.002, 0.02), (0.5, 12), [50, 100]),
    ("LIGHTING", "大灯总成", "Headlamp assembly", (1.5, 5.0), (420, 3600), [1]),
    ("LIGHTING", "尾灯", "Tail lamp", (0.6, 2.5), (150, 1200), [1, 2]),
    ("COOLING", "散热器", "Radiator", (4.0, 24.0), (650, 6200), [1]),
    ("COOLING", "空调压缩机", "A/C compressor", (5.0, 12.0), (1200, 7800), [1]),
    ("HYDRAULIC", "液压泵", "Hydraulic pump", (6.0, 40.0), (2600, 28000), [1]),
    ("HYDRAULIC", "油缸密封包", "Cylinder seal kit", (0.2, 1.5), (90, 980), [1, 5]),
    ("DRIVE", "传动链条", "Drive chain", (0.8, 6.0), (80, 900), [1, 5]),
    ("DRIVE", "变速箱齿轮", "Gearbox gear", (0.8, 8.0), (180, 2600), [1]),
    ("FASTENER", "螺栓套件", "Bolt kit", (0.1, 1.2), (10, 160), [10, 20, 50]),
]

# (Chinese application, English application)
APPLICATIONS: list[tuple[str, str]] = [
    ("重汽豪沃", "Sinotruk HOWO"),
    ("潍柴 WP10", "Weichai WP10"),
    ("潍柴 WP12", "Weichai WP12"),
    ("康明斯 ISF2.8", "Cummins ISF2.8"),
    ("康明斯 ISG", "Cummins ISG"),
    ("玉柴 YC6", "Yuchai YC6"),
    ("卡特 320D", "CAT 320D"),
    ("小松 PC200", "Komatsu PC200"),
    ("三一 SY215", "SANY SY215"),
    ("徐工 XE215", "XCMG XE215"),
    ("大众 EA888", "VW EA888"),
    ("丰田 1ZR", "Toyota 1ZR"),
    ("奔驰 OM471", "Mercedes-Benz OM471"),
    ("沃尔沃 D13", "Volvo D13"),
    ("斯堪尼亚 DC13", "Scania DC13"),
    ("福田欧曼", "Foton Auman"),
    ("解放 J6", "FAW J6"),
    ("东风天龙", "Dongfeng Tianlong"),
    ("陕汽德龙", "Shacman Delong"),
    ("约翰迪尔 6B", "John Deere 6B"),
    ("通用", "universal"),
]

VARIANTS: list[tuple[str, str]] = [
    ("", ""),
    ("加强型", "heavy duty"),
    ("原厂", "OEM"),
    ("经济型", "economy"),
    ("左", "left"),
    ("右", "right"),
]

SURNAMES = [
    "Becker", "Hoffmann", "Wagner", "Schulz", "Keller", "Brandt", "Smith", "Miller", "Walker",
    "Rossi", "Dubois", "Jansen", "Nowak", "García", "Silva", "Haddad", "Hernández",
]

SALES_REPS: list[tuple[str, str]] = [
    ("Li Wei", "li.wei"),
    ("Zhang Min", "zhang.min"),
    ("Anna Schneider", "anna.schneider"),
    ("Mark Johnson", "mark.johnson"),
    ("Wang Fang", "wang.fang"),
]

CARRIERS_CN = ["顺丰速运", "德邦物流", "中通快运", "京东物流"]
CARRIERS_INTL = ["DHL", "DB Schenker", "Kuehne+Nagel", "FedEx", "UPS"]

ORDER_NOTES_CN = ["常规补货", "月度备货", "维修急用", "新项目备件", "请按时发货"]
ORDER_NOTES_EN = ["Stock replenishment", "Monthly stock order", "Workshop order", "Fleet maintenance", ""]

EMOJI_NOTES = [
    "加急！设备停机等件 🚚🔥 请尽快发货🙏",
    "Urgent!! machine down 🚨🛠️ please ship ASAP 👍",
    "客户很满意😊，下次继续合作🤝",
]

NON_NUMERIC_PRICES = ["12,5a", "N/A", "¥35.00", "35..00", "1.234,56 EUR", "TBD"]
