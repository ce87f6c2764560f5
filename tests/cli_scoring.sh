#!/usr/bin/env bash
# tests/cli_scoring.sh — `rlhf init`, `rlhf logprobs` and `rlhf score` from the command line
# (no PyTorch needed; tests/cli_hf_crosscheck.sh checks the numbers against transformers):
# folders written, determinism, ragged batching giving the same numbers as one record at a time,
# BOS/EOS handling, --score-at positions, the pad = EOS warning, --truncate, and clear errors
# naming FILE:LINE: field for bad records.
set -u
. "$(dirname "$0")/support/cli.sh" cli_scoring
py() { python3 -c "$@"; }
export OMP_NUM_THREADS=2
SIZE=(--layers 2 --heads 2 --embd 16 --ctx 32)

# ---- init ---------------------------------------------------------------------------------------
for c in init logprobs score; do
  expect_rc 0 "rlhf $c --help" "$RLHF" $c --help
  grep -q "default" "$T/out" || bad "$c --help shows defaults"
done
expect_rc 0 "init LM" "$RLHF" init --out "$T/lm" "${SIZE[@]}" --seed 3
for f in config.json model.safetensors tokenizer_config.json; do
  [ -s "$T/lm/$f" ] && ok "init wrote $f" || bad "init wrote $f"
done
expect_rc 0 "init RM" "$RLHF" init --out "$T/rm" "${SIZE[@]}" --seed 4 --score-head
py "import json; c=json.load(open('$T/rm/config.json')); assert c['architectures']==['GPT2ForSequenceClassification'] and c['id2label']=={'0':'LABEL_0'} and c['pad_token_id']!=c['eos_token_id'] and c['vocab_size']==258, c" \
  && ok "RM config.json: architecture, one label, pad != eos" || bad "RM config.json: architecture, one label, pad != eos"
expect_rc 1 "init refuses an existing folder" "$RLHF" init --out "$T/lm" "${SIZE[@]}"
err_has "refusal names --force" "--force"
expect_rc 0 "init --force (same seed)" "$RLHF" init --out "$T/lm2" "${SIZE[@]}" --seed 3
expect_rc 0 "init --force replaces" "$RLHF" init --out "$T/lm2" "${SIZE[@]}" --seed 3 --force
cmp -s "$T/lm/model.safetensors" "$T/lm2/model.safetensors" && ok "init: same seed, same bytes" || bad "init: same seed, same bytes"
"$RLHF" init --out "$T/lm3" "${SIZE[@]}" --seed 5 2>/dev/null
cmp -s "$T/lm/model.safetensors" "$T/lm3/model.safetensors" && bad "init: another seed, other weights" || ok "init: another seed, other weights"
expect_rc 0 "init --vocab 300" "$RLHF" init --out "$T/v300" "${SIZE[@]}" --vocab 300
py "import json; assert json.load(open('$T/v300/config.json'))['vocab_size']==300" && ok "--vocab sets vocab_size" || bad "--vocab sets vocab_size"
expect_rc 2 "init --vocab below the tokenizer" "$RLHF" init --out "$T/v100" "${SIZE[@]}" --vocab 100
expect_rc 2 "init: heads must divide embd" "$RLHF" init --out "$T/h3" --layers 1 --heads 3 --embd 16 --ctx 8
expect_rc 0 "init --tokenizer DIR" "$RLHF" init --out "$T/tk" "${SIZE[@]}" --tokenizer "$T/lm"
expect_rc 1 "init --tokenizer of nothing" "$RLHF" init --out "$T/tk2" "${SIZE[@]}" --tokenizer "$T/none"

# ---- logprobs ------------------------------------------------------------------------------------
cat >"$T/d.jsonl" <<'EOF'
{"text": "hello world"}
{"ids": [1, 2, 3, 4, 5]}

{"ids": []}
{"ids": [7]}
{"text": "x"}
{"text": ""}
EOF
expect_rc 0 "logprobs" "$RLHF" logprobs --model "$T/lm" --data "$T/d.jsonl"
cp "$T/out" "$T/lp_all"
cp "$T/err" "$T/lp_err"
py "
import json, math
rows = [json.loads(l) for l in open('$T/lp_all')]
assert [len(r['logprobs']) for r in rows] == [11, 4, 0, 0, 1, 0], [len(r['logprobs']) for r in rows]
for r in rows:
    lp = r['logprobs']
    assert all(x <= 0 for x in lp)
    assert (r['nll'] is None) == (not lp)
    if lp: assert abs(r['nll'] + sum(lp) / len(lp)) < 1e-6
" && ok "one line per record; text after a BOS; nll = -mean; empty → null" || bad "one line per record; text after a BOS; nll = -mean; empty → null"
grep -q "perplexity" "$T/lp_err" && ok "perplexity on stderr" || bad "perplexity on stderr"
py "
import json, math
rows = [json.loads(l) for l in open('$T/lp_all')]
lp = [x for r in rows for x in r['logprobs']]
ppl = float(open('$T/lp_err').read().split('perplexity')[1].split()[0])
assert abs(ppl - math.exp(-sum(lp) / len(lp))) < 1e-3 * ppl, ppl
" && ok "perplexity = exp(mean nll over all tokens)" || bad "perplexity = exp(mean nll over all tokens)"
# ragged batching: one record per forward pass gives the same numbers as all in one
"$RLHF" logprobs --model "$T/lm" --data "$T/d.jsonl" --batch-tokens 1 >"$T/lp_one" 2>/dev/null
py "
import json
a = [json.loads(l) for l in open('$T/lp_all')]; b = [json.loads(l) for l in open('$T/lp_one')]
assert len(a) == len(b)
assert max((abs(x - y) for r, s in zip(a, b) for x, y in zip(r['logprobs'], s['logprobs'])), default=0) < 1e-5
" && ok "--batch-tokens 1 gives the same logprobs" || bad "--batch-tokens 1 gives the same logprobs"
# text = [EOS] + bytes; --no-bos drops the EOS
printf '{"text": "hello"}\n{"ids": [256, 104, 101, 108, 108, 111]}\n{"ids": [104, 101, 108, 108, 111]}\n' >"$T/bos.jsonl"
"$RLHF" logprobs --model "$T/lm" --data "$T/bos.jsonl" >"$T/bos" 2>/dev/null
printf '{"text": "hello"}\n' >"$T/nobos.jsonl"
"$RLHF" logprobs --model "$T/lm" --data "$T/nobos.jsonl" --no-bos >"$T/nobos" 2>/dev/null
py "
import json
r = [json.loads(l)['logprobs'] for l in open('$T/bos')]; n = json.loads(open('$T/nobos').read())['logprobs']
assert r[0] == r[1] and len(r[0]) == 5 and n == r[2] and len(n) == 4
" && ok "text records: [EOS] + bytes; --no-bos: bytes only" || bad "text records: [EOS] + bytes; --no-bos: bytes only"
# too long for the context (32)
py "import json; print(json.dumps({'ids': list(range(40))}))" >"$T/long.jsonl"
expect_rc 1 "a record longer than the context" "$RLHF" logprobs --model "$T/lm" --data "$T/long.jsonl"
err_has "too-long error names file:line and --truncate" "long.jsonl:1: the record has 40 tokens, more than the model's context of 32; --truncate"
expect_rc 0 "--truncate" "$RLHF" logprobs --model "$T/lm" --data "$T/long.jsonl" --truncate
py "import json; r=json.loads(open('$T/out').read()); assert len(r['logprobs'])==31 and r['truncated']==8" \
  && ok "--truncate keeps the first 32 tokens and says so" || bad "--truncate keeps the first 32 tokens and says so"
# a model folder without tokenizer files: ids work, text is a clear error
cp -r "$T/lm" "$T/notok" && rm "$T/notok/tokenizer_config.json"
printf '{"ids": [1, 2, 3]}\n' >"$T/ids.jsonl"
expect_rc 0 "no tokenizer: ids records" "$RLHF" logprobs --model "$T/notok" --data "$T/ids.jsonl"
expect_rc 1 "no tokenizer: text record" "$RLHF" logprobs --model "$T/notok" --data "$T/d.jsonl"
err_has "no-tokenizer error names the field and suggests ids" 'd.jsonl:1: field "text": cannot encode text'
# an llm.c checkpoint gives the same logprobs
if "$RLHF" convert --from "$T/lm" --to "$T/lm.bin" >/dev/null 2>&1; then
  "$RLHF" logprobs --model "$T/lm.bin" --data "$T/ids.jsonl" >"$T/bin" 2>/dev/null
  "$RLHF" logprobs --model "$T/lm" --data "$T/ids.jsonl" >"$T/dir" 2>/dev/null
  cmp -s "$T/bin" "$T/dir" && ok "llm.c .bin: same logprobs" || bad "llm.c .bin: same logprobs"
fi

# bad records: FILE:LINE: field
check_bad() {  # check_bad DESC LINE2 EXPECTED_STDERR [COMMAND]
  printf '{"ids": [1, 2]}\n%s\n' "$2" >"$T/bad.jsonl"
  expect_rc 1 "$1" "$RLHF" ${4:-logprobs} --model "$T/${5:-lm}" --data "$T/bad.jsonl"
  err_has "$1: message" "$3"
  [ -s "$T/out" ] && bad "$1: nothing printed before the error" || true
}
check_bad "invalid JSON" '{"text": ' 'bad.jsonl:2: invalid JSON'
check_bad "not an object" '[1, 2]' 'bad.jsonl:2: expected a JSON object'
check_bad "text not a string" '{"text": 5}' 'bad.jsonl:2: field "text": expected string'
check_bad "ids not an array" '{"ids": "1 2"}' 'bad.jsonl:2: field "ids": expected an array'
check_bad "id not an integer" '{"ids": [1, "a"]}' 'bad.jsonl:2: field "ids"[1]: expected an integer'
check_bad "id out of range" '{"ids": [1, 258]}' 'bad.jsonl:2: field "ids"[1]: token id 258 is outside'
check_bad "negative id" '{"ids": [-1]}' 'bad.jsonl:2: field "ids"[0]: token id -1'
check_bad "two shapes" '{"text": "a", "ids": [1]}' 'bad.jsonl:2: the record mixes "ids" and "text"'
check_bad "no known field" '{"txt": "a"}' 'bad.jsonl:2: no record field'
check_bad "prompt/response not for logprobs" '{"prompt": "a", "response": "b"}' 'bad.jsonl:2: field "prompt": not accepted here'
check_bad "score: response missing" '{"prompt": "a"}' 'bad.jsonl:2: missing field "response"' score rm
check_bad "score: empty ids" '{"ids": []}' 'bad.jsonl:2: field "ids": no tokens' score rm
expect_rc 1 "missing data file" "$RLHF" logprobs --model "$T/lm" --data "$T/nope.jsonl"
err_has "missing data file named" "nope.jsonl"
expect_rc 1 "missing model" "$RLHF" logprobs --model "$T/nomodel" --data "$T/d.jsonl"

# ---- score ----------------------------------------------------------------------------------------
cat >"$T/s.jsonl" <<'EOF'
{"text": "hi world"}
{"prompt": "hi", "response": " world"}
{"ids": [256, 104, 105, 256]}
{"ids": [256, 104, 105]}
EOF
score() { "$RLHF" score --model "$T/${M:-rm}" --data "$T/s.jsonl" --no-template "$@" 2>"$T/err" | py "import json,sys; print(' '.join(repr(json.loads(l)['score']) for l in sys.stdin))"; }
eos=$(score); before=$(score --score-at before-eos); last=$(score --score-at last)
py "
e, b, l = [list(map(float, s.split())) for s in ('''$eos''', '''$before''', '''$last''')]
assert len(e) == len(b) == len(l) == 4, (e, b, l)
same = lambda x, y: abs(x - y) < 1e-5  # the same position in differently packed batches
assert same(e[0], e[1])                      # --no-template: prompt+response = the text
assert not same(e[0], b[0]) and same(b[0], l[0])  # before-eos on [E text E] = last on [E text]
assert same(b[2], e[3]) and same(e[3], l[3])  # ids: before-eos skips the trailing EOS
assert same(e[2], l[2]) and not same(e[2], b[2])  # ids as given: eos and last read the last id
" && ok "--score-at eos / before-eos / last read the documented positions" || bad "--score-at eos / before-eos / last read the documented positions ($eos | $before | $last)"
s1=$("$RLHF" score --model "$T/rm" --data "$T/s.jsonl" --batch-tokens 1 2>/dev/null | tr -d '\n')
s2=$("$RLHF" score --model "$T/rm" --data "$T/s.jsonl" 2>/dev/null | tr -d '\n')
py "
import json
a = [json.loads(x + '}')['score'] for x in '''$s1'''.split('}')[:-1]]; b = [json.loads(x + '}')['score'] for x in '''$s2'''.split('}')[:-1]]
assert len(a) == 4 and max(abs(x - y) for x, y in zip(a, b)) < 1e-5
" && ok "score: --batch-tokens 1 gives the same scores" || bad "score: --batch-tokens 1 gives the same scores"
# by default {"prompt", "response"} is rendered with the chat template, as rlhf sft/rm render it
# (plain form for the byte tokenizer: "\n\nUser: " prompt "\n\nAssistant: " response EOS)
printf '{"prompt": "hi", "response": "yo"}\n' >"$T/chat.jsonl"
py "import json; print(json.dumps({'ids': list(b'\n\nUser: hi\n\nAssistant: yo') + [256]}))" >"$T/chat_ids.jsonl"
c1=$("$RLHF" score --model "$T/rm" --data "$T/chat.jsonl" 2>/dev/null); c2=$("$RLHF" score --model "$T/rm" --data "$T/chat_ids.jsonl" 2>/dev/null)
[ -n "$c1" ] && [ "$c1" = "$c2" ] && ok "prompt/response scored through the chat template" || bad "prompt/response scored through the chat template ($c1 vs $c2)"
c3=$("$RLHF" score --model "$T/rm" --data "$T/chat.jsonl" --no-template 2>/dev/null)
[ "$c1" != "$c3" ] && ok "--no-template changes the rendering" || bad "--no-template changes the rendering"
expect_rc 2 "--score-at bogus" "$RLHF" score --model "$T/rm" --data "$T/s.jsonl" --score-at middle
expect_rc 1 "score with a language model" "$RLHF" score --model "$T/lm" --data "$T/s.jsonl"
err_has "no score head explained" "has no score head"
printf '{"ids": [256, 256]}\n' >"$T/alleos.jsonl"
expect_rc 1 "before-eos with only EOS" "$RLHF" score --model "$T/rm" --data "$T/alleos.jsonl" --score-at before-eos
err_has "before-eos error names the line" "alleos.jsonl:1: --score-at before-eos"
# pad = eos in config.json: warn (default eos), quiet with before-eos
cp -r "$T/rm" "$T/rm_pe"
py "import json; p='$T/rm_pe/config.json'; c=json.load(open(p)); c['pad_token_id']=c['eos_token_id']; json.dump(c, open(p,'w'))"
expect_rc 0 "pad = eos model scores" "$RLHF" score --model "$T/rm_pe" --data "$T/s.jsonl"
err_has "pad = eos warning explains before-eos" "pad_token_id = eos_token_id = 256"
expect_rc 0 "pad = eos with --score-at before-eos" "$RLHF" score --model "$T/rm_pe" --data "$T/s.jsonl" --score-at before-eos
grep -q "warning" "$T/err" && bad "no warning with before-eos" || ok "no warning with before-eos"
py "import json; print(json.dumps({'text': 'x' * 31}))" >"$T/long2.jsonl"
expect_rc 1 "score: [EOS] text [EOS] longer than the context" "$RLHF" score --model "$T/rm" --data "$T/long2.jsonl"
err_has "score: too long names the count" "long2.jsonl:1: the record has 33 tokens"

cli_finish
