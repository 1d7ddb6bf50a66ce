#!/usr/bin/env python3
"""Writes Tests/KELMDataTests/Fixtures/wordnet-mini/: a few synsets of WordNet 3.0 (Debian
wordnet-base, /usr/share/wordnet) in the database's own format, pointers and sense lists
restricted to the chosen synsets (so sense numbers are those of the subset), and the lines of
cntlist.rev for their lemmas. The WordNet licence header of each data and index file is kept.

    python3 Tests/Fixtures/make_wordnet_mini.py [/usr/share/wordnet]
"""
import os
import sys

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"
OUT = os.path.join(os.path.dirname(__file__), "..", "KELMDataTests", "Fixtures", "wordnet-mini")
FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
CHOSEN = {
    "n": ["02084071", "02083346", "01317541", "02083863", "02121620", "10114209", "09886220", "02087551"],
    "v": ["02001876", "02535093", "02003619"],
    "a": ["01123148", "01125429", "01143855", "00003553", "00003356"],
    "r": ["00011093"],
}
chosen = {(p, o) for p, offsets in CHOSEN.items() for o in offsets}


def file_pos(letter):
    return "a" if letter == "s" else letter


os.makedirs(OUT, exist_ok=True)
lemmas = {p: set() for p in FILES}
for p, suffix in FILES.items():
    out = []
    with open(os.path.join(SOURCE, "data." + suffix), encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                out.append(line)
                continue
            head, gloss = line.rstrip("\n").split(" | ", 1)
            fields = head.split()
            if (p, fields[0]) not in chosen:
                continue
            w = int(fields[3], 16)
            for k in range(w):
                word = fields[4 + 2 * k]
                if "(" in word:
                    word = word[:word.index("(")]
                lemmas[p].add(word.lower())
            i = 4 + 2 * w
            count = int(fields[i])
            pointers = []
            for k in range(count):
                sym, off, pos, st = fields[i + 1 + 4 * k: i + 5 + 4 * k]
                if (file_pos(pos), off) in chosen:
                    pointers.append([sym, off, pos, st])
            rest = fields[i + 1 + 4 * count:]
            new = fields[:i] + ["%03d" % len(pointers)] + [x for ptr in pointers for x in ptr] + rest
            out.append(" ".join(new) + " | " + gloss + "\n")
    with open(os.path.join(OUT, "data." + suffix), "w", encoding="utf-8") as f:
        f.writelines(out)

for p, suffix in FILES.items():
    out = []
    with open(os.path.join(SOURCE, "index." + suffix), encoding="utf-8") as f:
        for line in f:
            if line.startswith("  "):
                out.append(line)
                continue
            fields = line.split()
            lemma = fields[0]
            if lemma not in lemmas[p]:
                continue
            count = int(fields[2])
            offsets = fields[-count:]
            kept = [o for o in offsets if (p, o) in chosen]
            out.append("%s %s %d 0 %d 0 %s  \n" % (lemma, p, len(kept), len(kept), " ".join(kept)))
    with open(os.path.join(OUT, "index." + suffix), "w", encoding="utf-8") as f:
        f.writelines(out)

out = []
with open(os.path.join(SOURCE, "cntlist.rev"), encoding="utf-8") as f:
    for line in f:
        lemma = line.split("%", 1)[0]
        if any(lemma in names for names in lemmas.values()):
            out.append(line)
with open(os.path.join(OUT, "cntlist.rev"), "w", encoding="utf-8") as f:
    f.writelines(out)
