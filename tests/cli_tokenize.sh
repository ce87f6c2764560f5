#!/usr/bin/env bash
# tests/cli_tokenize.sh — `rlhf tokenizer-train` and `rlhf tokenize` end to end: training writes a
# deterministic tokenizer folder; encode → decode gives the text back; special tokens; invalid
# UTF-8 still prints valid JSON; bad input lines are named; GPT-2's own files (when ../shared/gpt2
# is there); pretraining with --tokenizer saves the tokenizer into the model folder.
set -u
. "$(dirname "$0")/support/cli.sh" cli_tokenize

expect_rc 0 "tokenize --help" "$RLHF" tokenize --help
grep -q -- "--decode" "$T/out" && ok "help lists --decode" || bad "help lists --decode"
expect_rc 0 "tokenizer-train --help" "$RLHF" tokenizer-train --help
grep -q "default" "$T/out" && ok "tokenizer-train --help shows defaults" || bad "tokenizer-train --help shows defaults"
"$RLHF" --help | grep -q tokenizer-train && ok "listed in rlhf --help" || bad "listed in rlhf --help"

# a corpus: the prose fixture plus numbered lines, as .txt and as .jsonl
{ cat tests/fixtures/prose.txt; for i in $(seq 1 300); do echo "line $i: the cat sat on the mat, didn't it? Yes — it did."; done; } >"$T/corpus.txt"
python3 - "$T/corpus.txt" "$T/corpus.jsonl" <<'PY'
import json, sys
text = open(sys.argv[1], encoding="utf-8").read()
with open(sys.argv[2], "w") as f:
    for para in text.split("\n\n"):
        f.write(json.dumps({"text": para}) + "\n")
PY
expect_rc 0 "tokenizer-train .txt" "$RLHF" tokenizer-train --data "$T/corpus.txt" --vocab-size 600 --out "$T/tok"
for f in vocab.json merges.txt tokenizer_config.json special_tokens_map.json; do
  [ -s "$T/tok/$f" ] && ok "wrote $f" || bad "wrote $f"
done
[ "$(head -1 "$T/tok/merges.txt")" = "#version: 0.2" ] && ok "merges.txt header" || bad "merges.txt header"
[ "$(tail -c 1 "$T/tok/merges.txt" | od -An -c | tr -d ' ')" = '\n' ] && ok "merges.txt ends with a newline" || bad "merges.txt ends with a newline"
expect_rc 0 "tokenizer-train again" "$RLHF" tokenizer-train --data "$T/corpus.txt" --vocab-size 600 --out "$T/tok2"
same=1; for f in vocab.json merges.txt tokenizer_config.json; do cmp -s "$T/tok/$f" "$T/tok2/$f" || same=0; done
[ $same -eq 1 ] && ok "training is deterministic" || bad "training is deterministic"
expect_rc 0 "tokenizer-train .jsonl" "$RLHF" tokenizer-train --data "$T/corpus.jsonl" --vocab-size 500 --out "$T/tokj"
python3 -c "
import json; v=json.load(open('$T/tokj/vocab.json')); c=json.load(open('$T/tokj/tokenizer_config.json'))
assert len(v)==500 and v['<|endoftext|>']==495 and v['<|pad|>']==496 and v['<|assistant|>']==499, len(v)
assert c['eos_token']=='<|endoftext|>' and c['pad_token']=='<|pad|>' and c['tokenizer_class']=='GPT2Tokenizer'
" && ok "vocab size and special ids" || bad "vocab size and special ids"

# encode → decode
python3 - "$T/lines.jsonl" <<'PY'
import json, sys
texts = ["Hello world", "", "  spaces  \n\n and lines\r\n", "caf\u00e9 \u4e2d\u6587 \U0001F600", "I'm DON'T",
         "<|endoftext|> stays text", "tab\there", "\u0000nul"]
with open(sys.argv[1], "w") as f:
    for t in texts: f.write(json.dumps(t) + "\n")
PY
expect_rc 0 "tokenize" "$RLHF" tokenize --tokenizer "$T/tok" <"$T/lines.jsonl"
cp "$T/out" "$T/ids.jsonl"
[ "$(wc -l <"$T/ids.jsonl")" -eq 8 ] && ok "one array per line" || bad "one array per line"
expect_rc 0 "tokenize --decode" "$RLHF" tokenize --tokenizer "$T/tok" --decode <"$T/ids.jsonl"
python3 - "$T/lines.jsonl" "$T/out" <<'PY' && ok "decode(encode(x)) == x" || bad "decode(encode(x)) == x"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert a == b, [(x, y) for x, y in zip(a, b) if x != y]
PY
echo '"a<|endoftext|>b<|user|>"' | "$RLHF" tokenize --tokenizer "$T/tok" --special >"$T/sp" 2>&1
python3 -c "
import json; ids=json.loads(open('$T/sp').read()); assert 595 in ids and 598 in ids and len(ids)==4, ids" \
  && ok "--special matches special tokens" || bad "--special matches special tokens"
echo '"a<|endoftext|>b"' | "$RLHF" tokenize --tokenizer "$T/tok" >"$T/nosp" 2>&1
python3 -c "
import json; ids=json.loads(open('$T/nosp').read()); assert 595 not in ids, ids" \
  && ok "without --special the text stays text" || bad "without --special the text stays text"
echo '[97, 595, 98]' | "$RLHF" tokenize --tokenizer "$T/tok" --decode >"$T/d1" 2>&1
echo '[97, 595, 98]' | "$RLHF" tokenize --tokenizer "$T/tok" --decode --special >"$T/d2" 2>&1
[ "$(cat "$T/d1")" = '"ab"' ] && [ "$(cat "$T/d2")" = '"a<|endoftext|>b"' ] && ok "decode skips specials unless --special" \
  || bad "decode skips specials unless --special ($(cat "$T/d1") / $(cat "$T/d2"))"
# a lone byte 0xff (invalid UTF-8) prints as valid JSON
byte_ff=$(python3 -c "import json; print(json.load(open('$T/tok/vocab.json'))['\u00ff'])")
echo "[$byte_ff, 97]" | "$RLHF" tokenize --tokenizer "$T/tok" --decode >"$T/inv" 2>&1
python3 -c "import json; s=json.loads(open('$T/inv').read()); assert s=='\ufffda', repr(s)" \
  && ok "invalid UTF-8 → valid JSON with U+FFFD" || bad "invalid UTF-8 → valid JSON with U+FFFD"

# bad lines
printf '"fine"\n{"text": 1}\n' >"$T/bad1"
expect_rc 1 "non-string line" "$RLHF" tokenize --tokenizer "$T/tok" <"$T/bad1"
grep -q "stdin:2: expected a JSON string, got object" "$T/err" && ok "names line 2" || { bad "names line 2"; cat "$T/err"; }
[ "$(wc -l <"$T/out")" -eq 1 ] && ok "lines before the error printed" || bad "lines before the error printed"
printf '"fine"\n"unterminated\n' >"$T/bad2"
expect_rc 1 "invalid JSON line" "$RLHF" tokenize --tokenizer "$T/tok" <"$T/bad2"
grep -q "stdin:2: invalid JSON" "$T/err" && ok "invalid JSON named" || bad "invalid JSON named"
echo '[1, 600]' >"$T/bad3"
expect_rc 1 "id out of range" "$RLHF" tokenize --tokenizer "$T/tok" --decode <"$T/bad3"
grep -q "stdin:1: element 1: id 600 is outside the vocabulary" "$T/err" && ok "out-of-range id named" || { bad "out-of-range id named"; cat "$T/err"; }
echo '[1, "x"]' >"$T/bad4"
expect_rc 1 "non-integer id" "$RLHF" tokenize --tokenizer "$T/tok" --decode <"$T/bad4"
expect_rc 1 "missing tokenizer folder" "$RLHF" tokenize --tokenizer "$T/nothing" </dev/null
mkdir -p "$T/broken" && cp "$T/tok/"* "$T/broken/" && printf '#version: 0.2\nĠ t\nzzz q\n' >"$T/broken/merges.txt"
expect_rc 1 "broken merges.txt" "$RLHF" tokenize --tokenizer "$T/broken" </dev/null
grep -q "merges.txt:3: token \"zzz\"" "$T/err" && ok "merges error names file:line" || { bad "merges error names file:line"; cat "$T/err"; }
expect_rc 2 "vocab size too small" "$RLHF" tokenizer-train --data "$T/corpus.txt" --vocab-size 100 --out "$T/x"
printf '{"text": "ok"}\n{"txt": "no"}\n' >"$T/bad.jsonl"
expect_rc 1 "bad training jsonl" "$RLHF" tokenizer-train --data "$T/bad.jsonl" --out "$T/x"
grep -q 'bad.jsonl:2: missing field "text"' "$T/err" && ok "training error names file:line" || bad "training error names file:line"

# GPT-2's own files
if [ -f ../shared/gpt2/encoder.json ]; then
  echo '"Hello world"' | "$RLHF" tokenize --tokenizer ../shared/gpt2 >"$T/g" 2>&1
  [ "$(cat "$T/g")" = "[15496, 995]" ] && ok "GPT-2: Hello world = [15496, 995]" || bad "GPT-2: Hello world ($(cat "$T/g"))"
  echo '"<|endoftext|>"' | "$RLHF" tokenize --tokenizer ../shared/gpt2 --special >"$T/g" 2>&1
  [ "$(cat "$T/g")" = "[50256]" ] && ok "GPT-2: <|endoftext|> = 50256 with --special" || bad "GPT-2 special ($(cat "$T/g"))"
else
  echo "note: ../shared/gpt2 not found; GPT-2 checks skipped"
fi

# pretraining with a BPE tokenizer: vocab_size follows it; the model folder carries the files
expect_rc 0 "pretrain --tokenizer" "$RLHF" pretrain --data "$T/corpus.txt" --tokenizer "$T/tok" --out "$T/run" \
  --layers 1 --heads 2 --embd 16 --ctx 16 --batch 2 --steps 3 --eval-every 0 --quiet
for f in vocab.json merges.txt tokenizer_config.json config.json; do
  [ -s "$T/run/final/$f" ] && ok "model folder has $f" || bad "model folder has $f"
done
python3 -c "
import json; c=json.load(open('$T/run/final/config.json')); assert c['vocab_size']==600 and c['eos_token_id']==595 and c['pad_token_id']==596, c" \
  && ok "model vocab_size = tokenizer's, EOS/PAD ids" || bad "model vocab_size = tokenizer's, EOS/PAD ids"
cmp -s "$T/tok/merges.txt" "$T/run/final/merges.txt" && ok "merges.txt copied unchanged" || bad "merges.txt copied unchanged"
expect_rc 0 "sample from the BPE model" "$RLHF" sample --model "$T/run/final" --prompt "the cat" -n 1 --max-new 5
echo '"the cat"' | "$RLHF" tokenize --tokenizer "$T/run/final" >"$T/m1" 2>&1
echo '"the cat"' | "$RLHF" tokenize --tokenizer "$T/tok" >"$T/m2" 2>&1
cmp -s "$T/m1" "$T/m2" && ok "model folder tokenizes like the original" || bad "model folder tokenizes like the original"
expect_rc 1 "pretrain with a missing tokenizer" "$RLHF" pretrain --data "$T/corpus.txt" --tokenizer "$T/nothing" --out "$T/run2" --quiet
grep -q "no tokenizer files" "$T/err" && ok "missing tokenizer named" || bad "missing tokenizer named"

cli_finish
