#!/bin/bash
# issue 27: the sequence block on a second data seed (medium --clients 275000 --seed 2, 11k relevant)
set -e
U=/work/main/.venv/bin/ubm
cd /tmp/s27
date
test -f d/product_buy.parquet || $U generate --out d --size medium --clients 275000 --seed 2
test -f d/input/product_buy.parquet || $U split --data-dir d
$U lists --data-dir d --force
$U targets --data-dir d --out d/labels
/usr/bin/time -v $U features --data-dir d --recipe learned -o heads=binary,sku --out e-learned 2> learned.build.log || { tail -20 learned.build.log; exit 1; }
/usr/bin/time -v $U features --data-dir d --recipe learned -o heads=binary,sku -o sequence=on --out e-seq 2> seq.build.log || { tail -20 seq.build.log; exit 1; }
/work/main/.venv/bin/python -c "import numpy as np; a=np.load('e-learned/embeddings.npy', mmap_mode='r'); b=np.load('e-seq/embeddings.npy', mmap_mode='r'); print('shapes', a.shape, b.shape, 'first columns identical', bool((a == b[:, :a.shape[1]]).all()))"
date
for e in learned seq; do
  $U train --data-dir d --embeddings-dir e-$e --labels d/labels --out r-$e --device cpu --quiet \
     --tasks churn --tasks conversion --tasks propensity_category --tasks propensity_sku --tasks propensity_price
  date
done
$U leaderboard --ci --names learned,seq --json board.json r-learned r-seq > board.txt 2>&1
date
