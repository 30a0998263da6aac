#!/usr/bin/env bash
# `make fuzz`: build the libFuzzer targets (ASan), seed their corpora from real files, run each for
# FUZZ_SECONDS (default 60) and print executions per second and findings.
#   Corpora and logs: .build/fuzz/<target>/; findings (crashing, leaking, slow or over-allocating
#   inputs): .build/fuzz/findings/. A fixed finding goes to tools/fuzz/regressions/<target>/, which
#   the normal test suite replays (FuzzRegressionTests).
set -euo pipefail
seconds=${FUZZ_SECONDS:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$root/.build/fuzz
mkdir -p "$work"/{container,decode,png,findings}

(cd "$root/tools/fuzz" && swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 \
  | grep -v "Cannot export local symbol" || true)
bin=$root/tools/fuzz/.build/release

# Seeds: the container fixtures (valid and must-fail), PngSuite, and files encoded with the tiny
# test models (so the decode target reaches the networks).
cp "$root"/Tests/Fixtures/container/*.vqz "$root"/Tests/Fixtures/container/must-fail/*.vqz "$work/container/"
cp "$root"/Tests/Fixtures/pngsuite/png/*.png "$work/png/"
vqz=$root/.build/release/vqz; [ -x "$vqz" ] || vqz=$root/.build/debug/vqz
if [ ! -x "$vqz" ]; then
  (cd "$root" && swift build -c release --product vqz)
  vqz=$root/.build/release/vqz
fi
for png in basn2c08 basn6a08 basn0g08 s01n3p01 s39n3p04 tbrn2c08; do
  for m in tiny-vq tiny-gaussian; do
    VQZ_CODECS=$root/Tests/Fixtures/models/codecs "$vqz" encode "$root/Tests/Fixtures/pngsuite/png/$png.png" \
      -m $m -o "$work/decode/$png-$m.vqz" -f --quiet
  done
done
cp "$work"/decode/*.vqz "$work/container/"
for t in container decode png; do
  [ -d "$root/tools/fuzz/regressions/$t" ] && cp "$root/tools/fuzz/regressions/$t"/* "$work/$t/" 2>/dev/null || true
done

status=0
for t in container decode png; do
  target=Fuzz$(tr '[:lower:]' '[:upper:]' <<< "${t:0:1}")${t:1}
  [ "$t" = png ] && target=FuzzPNG
  echo "== $target: $seconds s"
  if ! "$bin/$target" "$work/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 \
      -artifact_prefix="$work/findings/$t-" -print_final_stats=1 > "$work/$t.log" 2>&1; then
    status=1
    echo "   FINDING: see $work/$t.log and $work/findings/"
  fi
  runs=$(grep -m1 "stat::number_of_executed_units" "$work/$t.log" | awk '{print $2}')
  rate=$(grep -m1 "stat::average_exec_per_sec" "$work/$t.log" | awk '{print $2}')
  cov=$(grep -E "^#[0-9]+.*cov:" "$work/$t.log" | tail -1 | sed -E 's/.*cov: ([0-9]+).*corp: ([0-9/a-zA-Z]+).*/cov \1, corpus \2/')
  echo "   ${runs:-?} executions, ${rate:-?} exec/s, $cov"
done
exit $status
