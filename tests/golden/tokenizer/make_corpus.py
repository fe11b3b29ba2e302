#!/usr/bin/env python3
"""Builds tests/golden/tokenizer/corpus.txt, the tokenizer parity corpus (deterministic).

    python3 tests/golden/tokenizer/make_corpus.py tests/golden/tokenizer/corpus.txt

Hand-written seed phrases in many languages and scripts, then systematic combinations: case
changes, whitespace runs, tabs, newlines, contractions, numbers, prices, units, URLs, e-mails,
emoji (ZWJ sequences, flags, skin tones) and odd code points (U+FEFF, U+00A0, U+200B/C/D,
U+2028, combining marks, NFD forms).

File format (what tests/tokenizer/corpus.h and tools/golden/tokenizer_ids.py decode): one sample
per line, lines end with '\\n' only (split on '\\n', never on U+2028/U+0085/'\\r'); tabs are literal;
a backslash escapes: '\\n' -> LF, '\\r' -> CR, '\\\\' -> backslash; any other backslash is itself.
"""
import random
import sys
import unicodedata

SEEDS = {
    "en": ["Please add two loaves of rye bread to my cart, thanks!",
           "I'd like 3 bottles of olive oil, and don't forget the milk.",
           "Remove the bananas please - we've got enough at home.",
           "Can you put a dozen eggs in the basket? It's for tomorrow's breakfast.",
           "They'll need 500 g of flour; she's baking a cake.",
           "HELLO THERE, I'M LOOKING FOR ORGANIC APPLES",
           "what's the price of the 1.5 l sparkling water?",
           "We're out of coffee beans again...",
           "Add 2x250ml oat milk & 1 kg rice",
           "you'd think they'D have it IN STOCK"],
    "de": ["Hallo! Leg mir bitte zwei Roggenbrote in den Warenkorb, danke :)",
           "Ich hätte gern 3 Flaschen Apfelsaft und eine Tüte Äpfel.",
           "Bitte entferne die Bio-Vollmilch 1 l aus dem Korb.",
           "Größe: XL, Farbe: weiß – Preis 12,99 €",
           "Straßenbahn, Übergröße, Ökostrom, Fußgängerzone"],
    "fr": ["Bonjour, ajoutez deux baguettes à mon panier s'il vous plaît.",
           "J'aimerais un pot de crème fraîche et trois œufs.",
           "Enlevez le fromage, c'est trop cher : 7,50 € le kilo !",
           "Où est l'épicerie ? Ça ferme à 20 h."],
    "es": ["¡Hola! Añade dos litros de leche y un paquete de café, por favor.",
           "¿Puedes quitar las manzanas del carrito? Gracias.",
           "Quiero 4 latas de atún y pan de centeno; señor, ¿cuánto cuesta?"],
    "it": ["Ciao, aggiungi per favore tre confezioni di pasta al carrello.",
           "Togli il caffè, perché ne ho già abbastanza. Città, più, è così."],
    "pt": ["Olá! Coloque duas garrafas de água com gás no carrinho, obrigado.",
           "Não quero mais o pão de açúcar; tire-o, por favor. Ação, coração."],
    "pl": ["Dzień dobry, proszę dodać dwa chleby żytnie do koszyka.",
           "Zażółć gęślą jaźń — usuń mleko, dziękuję!"],
    "cs": ["Přidejte prosím dva rohlíky a máslo do košíku.", "Příliš žluťoučký kůň úpěl ďábelské ódy."],
    "tr": ["Merhaba, sepetime iki ekmek ekler misiniz? Teşekkürler.", "İstanbul'da ığdır, şeker ve çay aldım."],
    "vi": ["Xin chào, vui lòng thêm hai ổ bánh mì vào giỏ hàng.", "Tôi muốn mua ba chai nước mắm và một ký gạo."],
    "ru": ["Здравствуйте! Добавьте, пожалуйста, два батона в корзину.",
           "Уберите молоко 1 л, спасибо. ЁЛКА, ёжик, Съешь же ещё этих мягких французских булок."],
    "uk": ["Додайте, будь ласка, три пакети гречки до кошика. Ґанок, їжак, є."],
    "bg": ["Моля, добавете две кисели млека в количката."],
    "el": ["Γεια σας! Προσθέστε δύο μπουκάλια ελαιόλαδο στο καλάθι, παρακαλώ.",
           "Αφαιρέστε το γάλα. ΤΑΧΙΣΤΗ ΑΛΩΠΗΞ ΒΑΦΗΣ ΨΗΜΕΝΗ ΓΗ, δρασκελίζει υπέρ νωθρού κυνός"],
    "ar": ["مرحبا، أضف من فضلك رغيفين من الخبز إلى السلة.", "أريد ثلاث زجاجات من الماء ١٢٣ و ٤٥٦ شكرا"],
    "he": ["שלום, תוסיף בבקשה שתי כיכרות לחם לעגלה.", "אני רוצה חלב 3% ו-2 ק\"ג תפוחים"],
    "fa": ["لطفاً دو بسته برنج به سبد خرید اضافه کنید. ۱۲۳۴"],
    "hi": ["नमस्ते, कृपया मेरी टोकरी में दो पैकेट दूध डालें।", "मुझे ५ किलो चावल और ३ लीटर तेल चाहिए।"],
    "bn": ["অনুগ্রহ করে আমার ঝুড়িতে দুটি রুটি যোগ করুন। ১২৩"],
    "ta": ["தயவுசெய்து என் கூடையில் இரண்டு ரொட்டிகளைச் சேர்க்கவும்."],
    "th": ["สวัสดีครับ กรุณาเพิ่มขนมปังสองก้อนลงในตะกร้า ขอบคุณ"],
    "zh": ["你好，请把两瓶牛奶加入购物车，谢谢！", "我想要三公斤苹果和一袋大米。", "删除购物车里的咖啡豆"],
    "zh-Hant": ["請把兩盒雞蛋放進購物車，謝謝。"],
    "ja": ["こんにちは、カートに牛乳を2本入れてください。", "りんごを３個とパンを１斤お願いします！", "ｶﾀｶﾅ ﾃｽﾄ、全角ＡＢＣ１２３"],
    "ko": ["안녕하세요, 장바구니에 우유 두 개 넣어 주세요.", "사과 3개랑 쌀 1kg 주문할게요 ㅋㅋ"],
    "ka": ["გთხოვთ, კალათაში ორი პური დაამატეთ."],
    "hy": ["Խնդրում եմ զամբյուղին ավելացնել երկու հաց։"],
    "am": ["እባክዎን ሁለት ዳቦ ወደ ቅርጫቱ ይጨምሩ።"],
    "sw": ["Habari! Tafadhali ongeza mikate miwili kwenye kikapu."],
    "fi": ["Hei, lisää ostoskoriin kaksi ruisleipää ja maitoa, kiitos. Hääyöaie."],
    "hu": ["Kérem, tegyen két kenyeret a kosárba. Árvíztűrő tükörfúrógép."],
    "nl": ["Hoi, doe maar twee broden in mijn winkelwagen, 't is goed zo."],
    "sv": ["Hej! Lägg till två limpor i min varukorg, tack. Åsa, ö, ä."],
    "is": ["Þú ættir að bæta tveimur brauðum í körfuna. Ðæþ."],
    "ro": ["Vă rog adăugați două pâini în coș. Șosea, țară."],
    "id": ["Tolong tambahkan dua roti ke keranjang saya, terima kasih."],
}

PRODUCTS = ["Roggenbrot 500 g", "Bio-Vollmilch 1 l", "Butter 250 g", "Olive Oil Extra Virgin 0.75L",
            "Coca-Cola 1,5 l", "2x250ml Hafermilch", "Eier Größe M (10 Stück)", "Nutella® 750g",
            "Café Moulu 250 g", "Leche Entera 1L", "Pâtes n°5 – 500 g", "Jabłka 1 kg",
            "Молоко 3,2% 930 мл", "Γιαούρτι 2% 1kg", "牛奶 1升", "りんご 6個入り", "우유 1L",
            "iPhone 15 Pro Max 256GB", "Samsung 55\" QLED TV", "AA Batteries (4-pack)",
            "Toilet paper 24×", "Wasser still 6 × 1,5 l", "Rice 5kg/11lb", "Tomaten ½ kg",
            "Zucker 1 000 g", "Mehl Type 405 – 1kg", "Paracetamol 500 mg", "Kaffeekapseln 10er"]

EMOJI = ["🛒", "😀", "👍", "👍🏻", "👍🏽", "👍🏿", "👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🇩🇪", "🇫🇷", "🇯🇵",
         "🇺🇸", "❤️", "✔️", "🍎🍌🍇", "🥖", "🧀", "☕", "🤷‍♀️", "🧑🏿‍🤝‍🧑🏻", "😂😂😂", "🙏", "1️⃣", "#️⃣", "©", "™"]

ODD = ["\ufeff", "\u00a0", "\u200b", "\u200c", "\u200d", "\u2028", "\u2029", "\u0301", "\u0308",
       "\u202f", "\u2009", "\u3000", "\u00ad", "\u2060", "\u0085", "\u180e", "\u1680", "\u000b", "\u000c",
       "\u2066", "\u202e", "\ufffd", "\U0001d400", "\u0130", "\u017f", "\u1e9e"]

URLS = ["https://www.example.com/shop?item=123&qty=2", "http://example.de/warenkorb#top",
        "www.tesco.com/groceries/en-GB/products/254656543", "ftp://files.example.org/a_b-c.txt",
        "https://例子.测试/路径?q=牛奶", "mailto:someone@example.com", "user.name+tag@mail.example.co.uk",
        "kontakt@bäckerei-müller.de", "C:\\Users\\me\\cart.txt", "/usr/local/bin/shopintent --help"]

CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'lL", "'D",
                "'x", "'", "''", "'ſ", "’s", "’ll"]

NUMBERS = ["0", "7", "42", "123", "1234", "12345", "123456789012345678901234567890", "3.14159", "1,000,000",
           "1.000.000,00", "-17", "+49 30 1234567", "2024-05-17", "12:30", "10%", "½", "²", "Ⅻ", "①②③",
           "٣٤٥", "१२३", "१०", "೩", "𝟙𝟚𝟛", "0x1F", "1e-9", "$19.99", "€5", "5€", "£3.50", "¥1000", "₹ 250",
           "12,99 €", "9.99$", "CHF 4.–"]

WS = [" ", "  ", "   ", "\t", "\t\t", " \t ", "\n", "\n\n", "\r\n", " \n ", "\n \n", "  \n\n  ", "\u00a0",
      "\u3000", " \u00a0 ", "\u2028", "\r", "\t\n"]


def escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def main(out_path: str) -> None:
    rng = random.Random(20240517)
    all_seeds = [s for lang in SEEDS.values() for s in lang]
    samples = []

    # 1. every seed as is, NFD, upper, lower, title, with leading/trailing space
    for s in all_seeds:
        samples += [s, unicodedata.normalize("NFD", s), s.upper(), s.lower(), " " + s, s + " ", "  " + s + "  "]
    samples += list(PRODUCTS) + [unicodedata.normalize("NFD", p) for p in PRODUCTS]

    # 2. contractions in many contexts and cases
    for c in CONTRACTIONS:
        for w in ["it", "IT", "we", "They", "I", "you", "x", "", " ", "1", "ñ", "Ω"]:
            samples.append(f"{w}{c} {w}{c}{w} {c}{w}")

    # 3. numbers and prices, alone and around words and spaces
    for n in NUMBERS:
        samples += [n, f" {n}", f"x{n}y", f"Preis: {n} inkl. MwSt", f"{n}{n}", f"({n})", f"{n} g", f"{n}kg"]

    # 4. whitespace runs between and after pieces
    for w in WS:
        for a, b in [("a", "b"), ("hello", "world"), ("1", "2"), ("!", "?"), ("牛奶", "咖啡"), ("x", ""), ("", "y"),
                     ("'s", "'t"), ("🛒", "🛒"), (".", "a")]:
            samples.append(f"{a}{w}{b}")
            samples.append(f"{a}{w}{w}{b}{w}")

    # 5. emoji alone, in text, sequences
    for e in EMOJI:
        samples += [e, f"{e}{e}", f"Add {e} please", f"{e} 2x", f"x{e}y", f" {e} "]

    # 6. odd code points everywhere
    for o in ODD:
        for s in ["word", " word", "a b", "12", "!!", "Äpfel", "e", "  "]:
            samples += [o + s, s + o, s[:1] + o + s[1:], o + o + s]

    # 7. URLs, e-mails, paths
    for u in URLS:
        samples += [u, f"see {u} now", f"<{u}>", f"\"{u}\","]

    # 8. special-token text (parsed with parse_special)
    samples += ["<|begin_of_text|>Hello", "a<|end_of_text|>b", "<|eot_id|>", "<|begin_of_text", "<|reserved_special_token_5|> x",
                "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "< |begin_of_text| >", "<<|end_of_text|>>"]

    # 9. code-ish and punctuation
    samples += ["def f(x):\n    return x**2  # square", "if (a && b) { c++; }", "{\"intent\": \"add\", \"quantity\": 2}",
                "SELECT * FROM cart WHERE qty > 2;", "....", "!!!???", "---", "***bold***", "__init__", "a_b_c",
                "(((nested)))", "@user #hashtag", "C++ C# F#", "¿¡", "«quotes» „Anführung“ “curly” ‘single’",
                "…—–", "•\t•\t•", "\\n is not a newline here", "path\\to\\file", "tab\there", "back\\slash\\"]

    # 10. systematic mixes: random seeds, products, numbers, emoji, odd points and whitespace joined
    parts = all_seeds + PRODUCTS + EMOJI + NUMBERS + URLS + CONTRACTIONS + ODD + WS
    while len(samples) < 3200:
        k = rng.randint(2, 6)
        pick = [rng.choice(parts) for _ in range(k)]
        sep = rng.choice(["", " ", " ", " ", "  ", "\t", "\n", ", ", " - "])
        s = sep.join(pick)
        if rng.random() < 0.2:
            s = unicodedata.normalize(rng.choice(["NFC", "NFD", "NFKC"]), s)
        if rng.random() < 0.1:
            s = s.swapcase()
        samples.append(s)

    # 11. a few long lines (whole paragraphs, long runs)
    for i in range(20):
        samples.append(" ".join(rng.choice(all_seeds) for _ in range(30)))
    samples += ["a" * 300, " " * 200 + "x", "9" * 500, "🛒" * 100, "\u0301" * 50, "-" * 400, "ab" * 200 + "\n" * 30]

    # No sample may be empty; no duplicates; keep order deterministic.
    seen, out = set(), []
    for s in samples:
        if s and s not in seen:
            seen.add(s)
            out.append(s)
    with open(out_path, "w", encoding="utf-8", newline="\n") as f:
        for s in out:
            f.write(escape(s) + "\n")
    print(f"{out_path}: {len(out)} lines, {sum(len(s.encode()) for s in out)} bytes of text")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/tokenizer/corpus.txt")
