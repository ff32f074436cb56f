#!/usr/bin/env python3
"""Writes the Hugging Face reference outputs ("goldens") that Tests/TokenizersTests compare against.

Re-runnable by anyone:  /tmp/venv/bin/python weights-scripts/make_tokenizer_goldens.py
(needs `pip install transformers tokenizers`).  Data is read from <repo>/../shared/data, or from
$LOUPE_DATA_DIR when set.  Output goes to Tests/TokenizersTests/Fixtures/:

  bert_sst2_dev.ids           one line per SST-2 dev sentence: the ids of BertTokenizerFast(vocab.txt)(s),
                              [CLS] … [SEP] included, space separated, in file order. Ids are written
                              in base 36 (digits 0-9a-z; 101 -> "2t").
  bert_sst2_train.fnv         one line per SST-2 train sentence: the FNV-1a 64 digest (16 hex digits) of
                              the UTF-8 bytes of that sentence's ids in DECIMAL joined by single spaces
                              ("101 1996 102"). The 67,349 full id lists would take 6 MB of the
                              repository's 15 MB fixture budget; a 64-bit digest per line still checks
                              every sentence id for id (a wrong list collides with probability 2^-64),
                              and a mismatch names the line and Loupe's ids.
  gpt2_sst2_{dev.ids,train.fnv}  the same for GPT-2 byte-level BPE (tokenizers.Tokenizer, see gpt2()).
  hard_strings.json           awkward inputs with ids, tokens, offsets, word ids and decodes for both
                              tokenizers, the same for 200 seeded random strings, plus pair / padding
                              cases and 400 seeded truncation cases (all three strategies).
  unicode_probe.json          HF's per-code-point behaviour over all of Unicode: the BERT normalizer's
                              output for every code point (ranges it deletes, ranges it pads with spaces
                              as CJK, an explicit map for the rest it changes), and the split offsets
                              that the BERT and GPT-2 pre-tokenizers produce on the string of all code
                              points.

`--swift-tables PATH` instead writes Sources/Tokenizers/UnicodeTables.swift (HF's character classes:
BERT clean-up, punctuation, non-spacing marks; GPT-2 regex \\p{L}, \\p{N}, \\s) and, beside it,
UnicodeMappings.swift (HF's NFD and lowercase of each code point), measured from the installed
`tokenizers`, so the Swift side does not depend on the Unicode version of the Swift runtime.
"""
import argparse
import json
import os
import random
import sys
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("LOUPE_DATA_DIR", REPO.parent / "shared" / "data"))
FIXTURES = REPO / "Tests" / "TokenizersTests" / "Fixtures"
BERT_VOCAB = DATA / "vocab" / "bert-base-uncased-vocab.txt"
GPT2_VOCAB = DATA / "vocab" / "gpt2-encoder.json"
GPT2_MERGES = DATA / "vocab" / "gpt2-vocab.bpe"

# Every Unicode scalar value (Python str index == Swift Unicode.Scalar index).
ALL_SCALARS = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]

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


def bert():
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(str(BERT_VOCAB))
    enc = tok("The dog", add_special_tokens=True)["input_ids"]
    assert enc == [101, 1996, 3899, 102], enc
    return tok


def gpt2():
    # transformers 5.x GPT2Tokenizer(vocab_file, merges_file) returned empty id lists, so the reference
    # is built directly with the Rust `tokenizers` library.
    t = Tokenizer(models.BPE.from_file(str(GPT2_VOCAB), str(GPT2_MERGES)))
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    t.decoder = decoders.ByteLevel()
    t.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    got = t.encode("The dog").ids
    assert got == [464, 3290], got
    return t


def read_sst2(name):
    lines = (DATA / "sst2" / name).read_text(encoding="utf-8").split("\n")
    assert lines[0] == "sentence\tlabel", lines[0]
    rows = [line.split("\t")[0] for line in lines[1:] if line]
    return rows


def base36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write_digests(path, rows):
    for ids in rows:
        assert ids, f"{path.name}: empty id list"
    path.write_text("".join(f"{fnv1a64(' '.join(map(str, ids)).encode()):016x}\n" for ids in rows), encoding="utf-8")
    print(f"{path.name}: {len(rows)} lines, {sum(map(len, rows))} ids digested, {path.stat().st_size} bytes")


def write_ids(path, rows):
    for ids in rows:
        assert ids, f"{path.name}: empty id list"
    path.write_text("".join(" ".join(map(base36, ids)) + "\n" for ids in rows), encoding="utf-8")
    print(f"{path.name}: {len(rows)} lines, {sum(map(len, rows))} ids, {path.stat().st_size} bytes")


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


def split_offsets(pre_tokenized):
    return [[a, b] for _, (a, b) in pre_tokenized]


def unicode_probe(tok):
    backend = tok.backend_tokenizer
    norm = backend.normalizer
    changed, deleted, padded = {}, [], []
    for c in ALL_SCALARS:
        out = norm.normalize_str(chr(c))
        if out == "":
            deleted.append(c)
        elif out == " " + chr(c) + " ":
            padded.append(c)
        elif out != chr(c):
            changed[c] = [ord(x) for x in out]
    everything = "".join(chr(c) for c in ALL_SCALARS)
    bert_splits = split_offsets(pre_tokenizers.BertPreTokenizer().pre_tokenize_str(everything))
    gpt2_splits = split_offsets(pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(everything))
    return {"bert_deleted": ranges(deleted), "bert_padded": ranges(padded),
            "bert_normalized": {str(k): v for k, v in changed.items()},
            "bert_pretokenize_all": bert_splits, "gpt2_pretokenize_all": gpt2_splits}


def ranges(codes):
    out = []
    for c in sorted(codes):
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


def matched(pattern):
    """Code points that `pattern` (Oniguruma, as HF's ByteLevel pre-tokenizer runs it) matches."""
    everything = "".join(chr(c) for c in ALL_SCALARS)
    kept = set()
    for _, (a, b) in pre_tokenizers.Split(Regex(pattern), behavior="removed").pre_tokenize_str(everything):
        kept.update(ALL_SCALARS[a:b])
    return set(ALL_SCALARS) - kept


def swift_tables(path):
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                       lowercase=False)
    bert_pre = pre_tokenizers.BertPreTokenizer()
    removed, space, punct, mark = set(), set(), set(), set()
    for c in ALL_SCALARS:
        out = clean.normalize_str(chr(c))
        if out == "":
            removed.add(c)
        elif out == " " and c != 0x20:
            space.add(c)
        if c not in space and c != 0x20 and len(bert_pre.pre_tokenize_str("a" + chr(c) + "a")) == 3:
            punct.add(c)
        if strip.normalize_str(chr(c)) == "":
            mark.add(c)
    tables = [
        ("bertRemoved", "BertNormalizer clean_text deletes these (NUL, U+FFFD, `is_other` minus \\t \\n \\r)", removed),
        ("bertWhitespace", "BertNormalizer clean_text turns these into U+0020", space),
        ("bertPunctuation", "BertPreTokenizer isolates these (`is_ascii_punctuation || is_punctuation`)", punct),
        ("nonspacingMark", "strip_accents drops these after NFD (`is_mark_nonspacing`)", mark),
        ("regexLetter", "Oniguruma \\p{L} in the GPT-2 pattern", matched(r"\p{L}")),
        ("regexNumber", "Oniguruma \\p{N} in the GPT-2 pattern", matched(r"\p{N}")),
        ("regexSpace", "Oniguruma \\s in the GPT-2 pattern (the same set as Rust `char::is_whitespace`)",
         matched(r"\s")),
    ]
    # Per-code-point mappings, flattened as [cp, n, m1 ... mn, cp, n, ...]. Hangul syllables are left out
    # of NFD: Swift decomposes them arithmetically (Unicode 3.12), and the probe test checks all of them.
    maps = [
        ("nfd", "HF `NormalizedString::nfd` of each single code point (Hangul syllables excluded)",
         normalizers.NFD(), lambda c: not 0xAC00 <= c <= 0xD7A3),
        ("lowercase", "HF `NormalizedString::lowercase` (Rust `char::to_lowercase`) of each code point",
         normalizers.Lowercase(), lambda c: True),
    ]
    import tokenizers
    header = [
        f"// Generated by weights-scripts/make_tokenizer_goldens.py --swift-tables from tokenizers {tokenizers.__version__}.",
        "// HF's classes come from its own Unicode tables (`unicode_categories` crate, Oniguruma, Rust std),",
        "// which differ from the Swift runtime's: measuring them keeps ids identical whatever Swift's version.",
        "// Numbers are hexadecimal, separated by spaces; UnicodeData.swift parses them once, on first use.",
        "",
    ]

    def emit(name, doc, numbers):
        text = " ".join(f"{x:X}" for x in numbers)
        out, line = [], ""
        for word in text.split(" "):
            if len(line) + len(word) + 1 > 116:
                out.append(line)
                line = ""
            line = f"{line} {word}" if line else word
        out.append(line)
        return [f"    /// {doc}.", f'    static let {name} = """'] + ["    " + x for x in out] + ['    """']

    classes = ["// Hugging Face's character classes, as sorted closed ranges [lo0 hi0 lo1 hi1 ...] (generated file)."]
    classes += header + ["enum UnicodeTables {"]
    for name, doc, codes in tables:
        classes += emit(name, doc, [x for r in ranges(codes) for x in r])
    classes.append("}")
    mappings = ["// Hugging Face's per-code-point NFD and lowercase mappings, as [cp n m1 ... mn ...] (generated file)."]
    mappings += header + ["extension UnicodeTables {"]
    for name, doc, norm, keep in maps:
        flat = []
        for c in ALL_SCALARS:
            out = norm.normalize_str(chr(c))
            if out != chr(c) and keep(c):
                flat += [c, len(out)] + [ord(x) for x in out]
        mappings += emit(name, doc, flat)
    mappings.append("}")
    base = Path(path)
    base.write_text("\n".join(classes) + "\n", encoding="utf-8")
    other = base.with_name("UnicodeMappings.swift")
    other.write_text("\n".join(mappings) + "\n", encoding="utf-8")
    print(f"wrote {base} and {other}: " + ", ".join(f"{n} {len(ranges(c))} ranges" for n, _, c in tables))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--swift-tables", metavar="PATH", help="write UnicodeTables.swift and exit")
    args = parser.parse_args()
    if args.swift_tables:
        swift_tables(args.swift_tables)
        return
    for p in (BERT_VOCAB, GPT2_VOCAB, GPT2_MERGES, DATA / "sst2" / "train.tsv"):
        if not p.exists():
            sys.exit(f"missing {p} (set LOUPE_DATA_DIR)")
    FIXTURES.mkdir(parents=True, exist_ok=True)
    btok, gtok = bert(), gpt2()

    for split in ("train", "dev"):
        sentences = read_sst2(f"{split}.tsv")
        bert_ids = btok(sentences)["input_ids"]
        for ids in bert_ids:
            assert ids[0] == 101 and ids[-1] == 102 and len(ids) > 2, ids
        gpt2_ids = [e.ids for e in gtok.encode_batch(sentences)]
        if split == "train":
            write_digests(FIXTURES / "bert_sst2_train.fnv", bert_ids)
            write_digests(FIXTURES / "gpt2_sst2_train.fnv", gpt2_ids)
        else:
            write_ids(FIXTURES / f"bert_sst2_{split}.ids", bert_ids)
            write_ids(FIXTURES / f"gpt2_sst2_{split}.ids", gpt2_ids)

    hard = {
        "strings": [{"text": s, "bert": bert_case(btok, s), "gpt2": gpt2_case(gtok, s)} for s in HARD_STRINGS],
        "bert_pairs": [{"text": a, "pair": b, "bert": bert_case(btok, a, b)}
                       for a, b in [("hello world", "how are you?"), ("", "x"), ("a [SEP] b", "café")]],
        "bert_batches": bert_batches(btok),
        "gpt2_batches": gpt2_pairs(gtok),
        "random_strings": [{"text": s, "bert": bert_case(btok, s), "gpt2": gpt2_case(gtok, s)}
                           for s in random_strings(200)],
        "truncation_cases": truncation_cases(btok, gtok, 400),
    }
    nonempty = [c for c in hard["strings"] if c["text"].strip()]
    assert all(c["bert"]["ids"] and c["gpt2"]["ids"] for c in nonempty)
    path = FIXTURES / "hard_strings.json"
    path.write_text(json.dumps(hard, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    print(f"{path.name}: {len(HARD_STRINGS)} hard strings, {len(hard['random_strings'])} random strings, "
          f"{len(hard['truncation_cases'])} truncation cases, {path.stat().st_size} bytes")

    path = FIXTURES / "unicode_probe.json"
    probe = unicode_probe(btok)
    path.write_text(json.dumps(probe, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{path.name}: {len(probe['bert_normalized'])} normalized code points, "
          f"{len(probe['bert_pretokenize_all'])} BERT splits, {len(probe['gpt2_pretokenize_all'])} GPT-2 splits, "
          f"{path.stat().st_size} bytes")
    total = sum(p.stat().st_size for p in FIXTURES.iterdir())
    assert total <= 4 * 1024 * 1024, f"fixtures are {total} bytes, over the 4 MB budget"
    print(f"total fixtures: {total} bytes")


if __name__ == "__main__":
    main()
