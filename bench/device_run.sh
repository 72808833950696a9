#!/usr/bin/env bash
# On the lent GPU machine (16 cores, one H200), from the repository root, devrun/ carried:
#   bash devrun/cur/bench/device_run.sh [cores|replicas|gpu|all]
# Figures and logs go to $OUT. The corpus is copied out of devrun/ first: devrun/ is git-ignored,
# and ragindex honours git's ignore rules inside a work tree (it would index nothing there).
set -uo pipefail
what=${1:-all}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site devrun/wheels/*.whl >/dev/null 2>&1 || { echo "wheels failed"; exit 1; }
export PYTHONPATH=/tmp/site PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
python3 -c "import sys, torch, transformers; print(sys.version.split()[0], torch.__version__, transformers.__version__)"
cd devrun/cur
cp -r ../shared/corpora/code /tmp/code
S="python3 bench/scaling.py"
C=/tmp/code
if [[ $what == cores || $what == all ]]; then
  $S cores --cores 1,2,4,8,16 --corpus $C --json $OUT/cores.json 2>&1 | tee $OUT/cores.log
  $S cores --cores 16 --pipelines ragindex,langchain,tutorial --corpus $C --json $OUT/peers16.json
  $S cores --cores 16 --copies 4 --servers 2 --corpus $C --json $OUT/x4.json
  $S cores --cores 16 --corpus $C --py-spy $OUT/spy.txt
fi
if [[ $what == replicas || $what == all ]]; then
  $S replicas --replicas 1 --corpus $C --json $OUT/rep1.json
  $S replicas --replicas 4 --one-big --copies 4 --corpus $C --json $OUT/rep4.json
fi
if [[ $what == gpu || $what == all ]]; then
  $S gpu --pipelines ragindex,langchain,tutorial --corpus $C --json $OUT/gpu.json 2>&1 | tee $OUT/gpu.log
fi
