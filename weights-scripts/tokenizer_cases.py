"""The content of hard_strings.json for make_tokenizer_goldens.py: the inputs and the HF records made of them."""
import random

from tokenizer_unicode import ALL_SCALARS

HARD_STRINGS = [
    "",
    " ",
    "Hello, world!",
    "The dog",
    "héllo wörld café naïve Ångström ÉCOLE",
    "cafe\u0301 e\u0301 \u0301abc",
    "İstanbul ǅx ﬁne Straße ΣΑΣ",
    "中文字符测试 日本語のテキスト 한국어 텍스트",
    "a\u4e00b \U0002b820x \U0002b920y \uf900z",
    "emoji 🥰🫠 👩‍👩‍👧 🇫🇷 ✔️",
    "zero\u200bwidth\u200djoiner\ufeffbom\u00adsoft",
    "ctrl\x00\x01\x07\x1b\x7f\x85 chars\ufffd",
    "  runs   of    spaces  ",
    "line\nbreaks\n\n\nand\r\nCRLF\n",
    "tabs\there\t\tand\u3000ideographic\u2028sep\u00a0nbsp",
    "don't won't I'm you're we've they'll he'd it's 'tis ''s",
    "DON'T I'M YOU'RE 'S",
    "numbers 1234567 3.14159 1,000,000 ½ ² ٣ ௰",
    "pneumonoultramicroscopicsilicovolcanoconiosis " + "a" * 99 + " " + "b" * 100 + " " + "c" * 101,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "mixed Ελληνικά кириллица עברית العربية हिन्दी ไทย",
    "the [MASK] sat on [MASK].[MASK][MASK] [mask] [CLS] x [SEP] [PAD][UNK] [UNK]s",
    "hello<|endoftext|>world <|endoftext|> x<|endoftext|><|endoftext|>",
    "<|endoftext|>",
    "[MASK]",
    "punctuation!!! ...?? (parens) [brackets] {braces} \"quotes\" «guillemets» — dashes – ‐",
    "math ∑∫√ ≤≥ ± × ÷ $100 €50 ¥ £ #hashtag @user http://example.com/a?b=c&d",
    "\u037e\u1fef\u0387 greek punct via NFD",
    "\U0001d165\U0001d16d\u0301 musical marks",
    "x\u2028y\u2029z\u0085w\u000bv\u000cu",
    "ab\U0001f970cd \U0001f970ab \U0001f970 \U0001f970\U0001f970",
    "   leading and trailing   ",
    "\n",
    "'",
    "a'b 'ab' ' s 's's",
    "naïve<|endoftext|>🥰 [MASK]é 日本[SEP]語 x",
    "x" * 300 + " " + "é" * 70 + " " + "🥰" * 20 + " " + "ab" * 40,
    "https://www.example.com/some/very/long/path/that_goes_on_and_on?query=1&other=two#fragment",
]


# Building blocks of the seeded random strings: every kind of input the hard strings cover, mixed.
RANDOM_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\x0b", "\x0c", "\x85",
    "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S",
    "éèêëàâäôöûüçñÅØæœßÉ", "\u0301\u0308\u0327\u0300", "一二三中文字日本語", "한국어글", "ひらがなカタカナ",
    "🥰😀👍🏽👩‍👩‍👧🇫🇷✔️", "\u200b\u200c\u200d\ufeff\u00ad", "\x00\x01\x07\x1b\x7f", "\ufffd",
    "[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "<|endoftext|>", "<|endoftext",
    "Ελληνικά", "кириллица", "עברית", "العربية", "हिन्दी", "ไทย", "½²٣௰", "∑∫√≤", "ﬁﬂ", "İıǅ",
]


def random_strings(n, seed=20261122):
    """Seeded mixes of RANDOM_POOLS pieces, runs of one letter (some over 100) and random code points."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randrange(0, 25)):
            r = rng.random()
            if r < 0.08:
                parts.append(chr(rng.choice(ALL_SCALARS)))
            elif r < 0.12:
                parts.append(rng.choice("abcxyz") * rng.randrange(1, 130))
            else:
                pool = rng.choice(RANDOM_POOLS)
                whole = rng.random() < 0.3 or len(pool) == 1
                parts.append(pool if whole else "".join(rng.choice(pool) for _ in range(rng.randrange(1, 6))))
        out.append("".join(parts))
    return out


def truncation_cases(btok, gtok, n, seed=7):
    """Random pairs/singles under every strategy and small limits; HF's ids, or that it raised."""
    rng = random.Random(seed)
    words = "the a dog cat sat on mat héllo world unaffable tokenizer , . ! [MASK] 中".split()
    backends = (("bert", btok.backend_tokenizer), ("gpt2", gtok))
    cases = []
    for _ in range(n):
        a = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 12)))
        b = " ".join(rng.choice(words) for _ in range(rng.randrange(0, 12))) if rng.random() < 0.7 else None
        rec = {"text": a, "pair": b, "max_length": rng.randrange(3, 20),
               "strategy": rng.choice(["longest_first", "only_first", "only_second"])}
        for name, t in backends:
            t.enable_truncation(max_length=rec["max_length"], strategy=rec["strategy"])
            try:
                e = t.encode(a, b)
                rec[name] = {"ids": e.ids, "type_ids": e.type_ids}
            except Exception as ex:  # HF raises for only_second without a pair and for too-short sequences
                rec[name] = {"error": str(ex)}
            t.no_truncation()
        cases.append(rec)
    return cases

def offsets(pairs):
    return [[a, b] for a, b in pairs]


def bert_case(tok, text, pair=None):
    e = tok(text, pair, return_offsets_mapping=True, return_token_type_ids=True)
    return {
        "ids": e["input_ids"],
        "tokens": e.tokens(),
        "offsets": offsets(e["offset_mapping"]),
        "type_ids": e["token_type_ids"],
        "word_ids": e.word_ids(),
        "tokenize": tok.tokenize(text) if pair is None else None,
        "decode": tok.decode(e["input_ids"]),
        "decode_skip": tok.decode(e["input_ids"], skip_special_tokens=True),
    }


def gpt2_case(t, text):
    e = t.encode(text)
    return {
        "ids": e.ids,
        "tokens": e.tokens,
        "offsets": offsets(e.offsets),
        "word_ids": e.word_ids,
        "decode": t.decode(e.ids, skip_special_tokens=False),
        "decode_skip": t.decode(e.ids, skip_special_tokens=True),
    }


def batch_record(b, n):
    return [
        {
            "ids": b["input_ids"][i],
            "type_ids": b["token_type_ids"][i],
            "attention_mask": b["attention_mask"][i],
            "offsets": offsets(b["offset_mapping"][i]),
            "word_ids": b.word_ids(i),
        }
        for i in range(n)
    ]


def bert_batches(tok):
    firsts = [
        "a short one",
        "a much longer first sentence that will need to be truncated somewhere in the middle",
        "",
        "héllo [MASK] wörld",
        "one two three four five six seven",
    ]
    seconds = [
        "and a second sentence that is quite long as well, with punctuation!",
        "short",
        "only the pair",
        "x",
        "eight nine ten eleven",
    ]
    cases = []
    for max_length in [None, 5, 8, 9, 12, 16]:
        trunc = max_length is not None
        single = tok(firsts, padding=True, truncation=trunc, max_length=max_length,
                     return_offsets_mapping=True, return_token_type_ids=True)
        pairs = tok(firsts, seconds, padding=True, truncation=trunc, max_length=max_length,
                    return_offsets_mapping=True, return_token_type_ids=True)
        cases.append({"max_length": max_length, "firsts": firsts, "seconds": seconds,
                      "single": batch_record(single, len(firsts)), "pairs": batch_record(pairs, len(firsts))})
    return cases


def gpt2_pairs(t):
    cases = []
    pairs = [("hello world", "how are you"), ("The quick brown fox jumps", "over the lazy dog again and again"),
             ("", "only second"), ("a<|endoftext|>b", " c")]
    for max_length in [None, 3, 6, 7]:
        if max_length is None:
            t.no_truncation()
        else:
            t.enable_truncation(max_length=max_length)
        t.enable_padding(pad_id=50256, pad_token="<|endoftext|>")
        enc = t.encode_batch(pairs)
        cases.append({"max_length": max_length, "pairs": [list(p) for p in pairs], "encodings": [
            {"ids": e.ids, "type_ids": e.type_ids, "attention_mask": e.attention_mask,
             "offsets": offsets(e.offsets), "word_ids": e.word_ids} for e in enc]})
    t.no_truncation()
    t.no_padding()
    return cases
