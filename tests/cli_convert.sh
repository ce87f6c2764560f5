#!/usr/bin/env bash
# tests/cli_convert.sh — `rlhf convert` and `rlhf info` end to end: HF folder → llm.c .bin (fp32
# and bf16) → HF folder with identical weights, tokenizer handling, info text and JSON for every
# kind of file, an llm.c token shard as pretraining data, and clear errors (non-zero exit) for
# missing, corrupt and clashing paths.
set -u
. "$(dirname "$0")/support/cli.sh" cli_convert

expect_rc 0 "convert --help" "$RLHF" convert --help
grep -q -- "--bf16" "$T/out" && grep -q default "$T/out" && ok "convert --help lists flags" || bad "convert --help lists flags"
expect_rc 0 "info --help" "$RLHF" info --help
expect_rc 0 "rlhf --help" "$RLHF" --help
grep -q convert "$T/out" && grep -q info "$T/out" && ok "help lists convert and info" || bad "help lists convert and info"

# a tiny model (2 steps of pretraining)
for i in $(seq 1 50); do echo "the cat $i sat on the mat."; done >"$T/corpus.txt"
expect_rc 0 "pretrain a tiny model" "$RLHF" pretrain --data "$T/corpus.txt" --out "$T/run" --layers 2 \
  --heads 2 --embd 16 --ctx 16 --batch 2 --steps 2 --quiet
HF="$T/run/final"

# HF → llm.c (fp32) → HF → llm.c: the two .bin files are identical
expect_rc 0 "HF → .bin" "$RLHF" convert --from "$HF" --to "$T/m.bin"
err_has "convert reports what it did" "llm.c checkpoint"
size=$(stat -c %s "$T/m.bin")
python3 - "$T/m.bin" "$size" <<'PY' && ok ".bin header and size" || bad ".bin header and size"
import struct, sys
h = struct.unpack("<256i", open(sys.argv[1], "rb").read(1024))
magic, ver, T, V, L, NH, C, Vp = h[:8]
assert (magic, ver, T, V, L, NH, C, Vp) == (20240326, 3, 16, 258, 2, 2, 16, 384), h[:8]
n = Vp*C + T*C + L*(12*C*C + 13*C) + 2*C
assert int(sys.argv[2]) == 1024 + 4*n, (sys.argv[2], 1024 + 4*n)
PY
expect_rc 0 ".bin → HF" "$RLHF" convert --from "$T/m.bin" --to "$T/hf2"
[ -s "$T/hf2/config.json" ] && [ -s "$T/hf2/model.safetensors" ] && ok "HF folder written" || bad "HF folder written"
[ ! -e "$T/hf2/tokenizer_config.json" ] && ok "no tokenizer without --tokenizer" || bad "no tokenizer without --tokenizer"
expect_rc 0 "HF → .bin again" "$RLHF" convert --from "$T/hf2" --to "$T/m2.bin"
cmp -s "$T/m.bin" "$T/m2.bin" && ok "HF → .bin → HF → .bin is bit-identical" || bad "HF → .bin → HF → .bin is bit-identical"
cmp -s "$HF/model.safetensors" "$T/hf2/model.safetensors" && ok "weights file identical to the original" || bad "weights file identical to the original"

# with a tokenizer the HF folder is usable by sample
expect_rc 0 ".bin → HF with --tokenizer" "$RLHF" convert --from "$T/m.bin" --to "$T/hf3" --tokenizer "$HF"
[ -s "$T/hf3/tokenizer_config.json" ] && ok "tokenizer written" || bad "tokenizer written"
expect_rc 0 "sample from the converted folder" "$RLHF" sample --model "$T/hf3" --prompt "the" --max-new 5
# HF → HF copies the source tokenizer
expect_rc 0 "HF → HF" "$RLHF" convert --from "$HF" --to "$T/hf4"
[ -s "$T/hf4/tokenizer_config.json" ] && ok "HF → HF keeps the tokenizer" || bad "HF → HF keeps the tokenizer"
expect_rc 1 "--tokenizer that is not one" "$RLHF" convert --from "$T/m.bin" --to "$T/hf5" --tokenizer "$T/nowhere"
err_has "bad --tokenizer named" "nowhere"
[ ! -e "$T/hf5" ] && ok "nothing written on a tokenizer error" || bad "nothing written on a tokenizer error"

# bf16: version 5, half the data; HF BF16 tensors
expect_rc 0 "HF → .bin --bf16" "$RLHF" convert --from "$HF" --to "$T/m5.bin" --bf16
s5=$(stat -c %s "$T/m5.bin")
[ $(( (s5 - 1024) * 2 )) -eq $(( size - 1024 )) ] && ok "bf16 file has half the data" || bad "bf16 file has half the data ($s5 vs $size)"
expect_rc 0 "info bf16 .bin --json" "$RLHF" info "$T/m5.bin" --json
python3 -c "
import json; d = json.load(open('$T/out'))
assert d['format'] == 'llmc' and d['version'] == 5 and d['dtype'] == 'bf16', d
assert len(d['tensors']) == 16 and d['tensors'][4]['name'] == 'qkvw' and d['tensors'][4]['shape'] == [2, 48, 16], d['tensors'][4]
assert d['config']['padded_vocab_size'] == 384 and d['config']['vocab_size'] == 258
" && ok "info JSON of a bf16 .bin" || bad "info JSON of a bf16 .bin"
expect_rc 0 "bf16 .bin → HF --bf16" "$RLHF" convert --from "$T/m5.bin" --to "$T/hf5b" --bf16
expect_rc 0 "info HF --json" "$RLHF" info "$T/hf5b" --json
python3 -c "
import json; d = json.load(open('$T/out'))
assert d['format'] == 'hf' and d['architecture'] == 'GPT2LMHeadModel', d
assert all(t['dtype'] == 'BF16' for t in d['tensors']) and len(d['tensors']) == 2 + 2*12 + 2
names = [t['name'] for t in d['tensors']]
assert 'transformer.h.1.attn.c_attn.weight' in names
w = [t for t in d['tensors'] if t['name'] == 'transformer.h.1.attn.c_attn.weight'][0]
assert w['shape'] == [16, 48], w
" && ok "info JSON of a BF16 HF folder" || bad "info JSON of a BF16 HF folder"
expect_rc 0 "bf16 HF → .bin (fp32) → same values" "$RLHF" convert --from "$T/hf5b" --to "$T/m5b.bin" --bf16
cmp -s "$T/m5.bin" "$T/m5b.bin" && ok "bf16 values survive HF BF16 and back" || bad "bf16 values survive HF BF16 and back"

# info text
expect_rc 0 "info .bin" "$RLHF" info "$T/m.bin"
grep -q "llm.c model checkpoint, version 3 (fp32)" "$T/out" && grep -q "^parameters: " "$T/out" \
  && grep -q "qkvw .*\[2, 48, 16\]" "$T/out" && grep -q "n_layer 2, n_head 2, n_embd 16" "$T/out" \
  && ok "info text of a .bin" || { bad "info text of a .bin"; cat "$T/out"; }
expect_rc 0 "info HF" "$RLHF" info "$HF"
grep -q "Hugging Face model folder (GPT2LMHeadModel)" "$T/out" && grep -q "transformer.wte.weight *\[258, 16\] *F32" "$T/out" \
  && ok "info text of an HF folder" || { bad "info text of an HF folder"; cat "$T/out"; }
p_hf=$(grep '^parameters:' "$T/out"); "$RLHF" info "$T/m.bin" | grep -q "^$p_hf" && ok "same parameter count in both formats" || bad "same parameter count in both formats"
expect_rc 0 "info .safetensors" "$RLHF" info "$HF/model.safetensors"
grep -q "safetensors file" "$T/out" && ok "info of a bare .safetensors" || bad "info of a bare .safetensors"

# llm.c token shard and tokenizer files: info, and the shard as pretraining data
python3 - "$T" <<'PY'
import struct, sys, random
d = sys.argv[1]
random.seed(1)
ids = []
for _ in range(40):
    ids.append(256)  # EOT of the byte tokenizer starts each document
    ids += [random.randrange(97, 123) for _ in range(30)]
open(d + "/shard.bin", "wb").write(struct.pack("<256i", *([20240520, 1, len(ids)] + [0]*253)) + struct.pack("<%dH" % len(ids), *ids))
toks = [b"a", b"b", b" c", b"<|endoftext|>"]
body = b"".join(bytes([len(t)]) + t for t in toks)
open(d + "/tok.bin", "wb").write(struct.pack("<256I", *([20240328, 2, len(toks), 3] + [0]*252)) + body)
PY
expect_rc 0 "info shard" "$RLHF" info "$T/shard.bin"
grep -q "llm.c token shard: 1240 tokens" "$T/out" && ok "info names the shard" || { bad "info names the shard"; cat "$T/out"; }
expect_rc 0 "info tokenizer" "$RLHF" info "$T/tok.bin" --json
python3 -c "import json; d=json.load(open('$T/out')); assert d['format']=='llmc-tokenizer' and d['tokens']==4 and d['eot_id']==3" \
  && ok "info names the tokenizer" || bad "info names the tokenizer"
expect_rc 0 "pretrain on a token shard" "$RLHF" pretrain --data "$T/shard.bin" --out "$T/run2" --layers 1 \
  --heads 2 --embd 16 --ctx 16 --batch 2 --steps 2 --quiet
expect_rc 1 "a shard given as a model" "$RLHF" convert --from "$T/shard.bin" --to "$T/x"
err_has "shard-as-model message" "token shard"
expect_rc 1 "a model given as pretraining data" "$RLHF" pretrain --data "$T/m.bin" --out "$T/run3" --quiet
err_has "model-as-data message" "model checkpoint"

# errors: missing and bad paths, clashes, corrupt files
expect_rc 2 "convert without --to" "$RLHF" convert --from "$HF"
expect_rc 1 "convert from a missing path" "$RLHF" convert --from "$T/nothing" --to "$T/y.bin"
err_has "missing path named" "$T/nothing"
echo hello >"$T/notes.txt"
expect_rc 1 "convert from a text file" "$RLHF" convert --from "$T/notes.txt" --to "$T/y.bin"
err_has "text file: what was expected" "*.bin"
expect_rc 1 "--to exists" "$RLHF" convert --from "$HF" --to "$T/m.bin"
err_has "--to exists: suggests --force" "--force"
expect_rc 0 "--to exists with --force" "$RLHF" convert --from "$T/hf2" --to "$T/m.bin" --force
expect_rc 1 "--from = --to" "$RLHF" convert --from "$T/m.bin" --to "$T/m.bin" --force
expect_rc 1 "--force onto a file for a folder" "$RLHF" convert --from "$T/m.bin" --to "$T/notes.txt" --force
[ "$(cat "$T/notes.txt")" = hello ] && ok "the file was left alone" || bad "the file was left alone"
head -c 5000 "$T/m.bin" >"$T/trunc.bin"
expect_rc 1 "truncated .bin" "$RLHF" convert --from "$T/trunc.bin" --to "$T/z"
err_has "truncation explained" "truncated"
err_has "truncated file named" "trunc.bin"
expect_rc 1 "info truncated .bin" "$RLHF" info "$T/trunc.bin"
err_has "info: truncation explained" "bytes expected"
cp "$T/m.bin" "$T/big.bin"; printf 'xx' >>"$T/big.bin"
expect_rc 1 "oversized .bin" "$RLHF" convert --from "$T/big.bin" --to "$T/z"
err_has "oversize explained" "2 unexpected trailing bytes"
python3 - "$T/m.bin" "$T/lie.bin" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[16:20] = (1000).to_bytes(4, "little")   # L = 1000
b[24:28] = (65536).to_bytes(4, "little")  # C = 65536
open(sys.argv[2], "wb").write(b)
PY
expect_rc 1 "lying header" "$RLHF" convert --from "$T/lie.bin" --to "$T/z"
err_has "lying header explained" "bytes expected"
[ ! -e "$T/z" ] && ok "nothing written on errors" || bad "nothing written on errors"
expect_rc 1 "info of a missing path" "$RLHF" info "$T/nothing"
err_has "info names the missing path" "$T/nothing"
expect_rc 2 "info without a path" "$RLHF" info
expect_rc 1 "info of a text file" "$RLHF" info "$T/notes.txt"

# --add-pad: GPT-2's vocabulary has no pad; a reward model needs one distinct from EOS
G="$(cd "$(dirname "$0")/.." && pwd)/../shared/gpt2"
if [ -f "$G/encoder.json" ]; then
  "$RLHF" init --out "$T/g" --layers 1 --heads 1 --embd 8 --ctx 16 --tokenizer "$G" >/dev/null 2>&1
  expect_rc 0 "convert --add-pad" "$RLHF" convert --from "$T/g" --to "$T/gp" --add-pad
  python3 - "$T/gp" <<'PY' && ok "pad added: vocab 50258, pad 50257 != eos 50256" || bad "pad added"
import json, sys
c = json.load(open(sys.argv[1] + "/config.json"))
t = json.load(open(sys.argv[1] + "/tokenizer_config.json"))
assert c["vocab_size"] == 50258 and c["pad_token_id"] == 50257 and c["eos_token_id"] == 50256, c
assert t["pad_token"] == "<|pad|>", t["pad_token"]
PY
  expect_rc 0 "convert --add-pad again" "$RLHF" convert --from "$T/gp" --to "$T/gp2" --add-pad
  cmp -s "$T/gp/model.safetensors" "$T/gp2/model.safetensors" && ok "--add-pad is idempotent" || bad "--add-pad is idempotent"
  expect_rc 0 "convert to .bin" "$RLHF" convert --from "$T/g" --to "$T/g.bin"
  expect_rc 0 "sample an llm.c .bin with --tokenizer" "$RLHF" sample --model "$T/g.bin" --tokenizer "$G" --prompt "Hello" --max-new 4
  expect_rc 1 "sample a .bin without --tokenizer" "$RLHF" sample --model "$T/g.bin" --prompt "Hello"
  expect_rc 1 "--add-pad without a tokenizer" "$RLHF" convert --from "$T/g" --to "$T/gx.bin" --add-pad
else
  echo "skipped: --add-pad checks need ../shared/gpt2 (absent)"
fi

cli_finish
