"""JapaneseVowels, on validation: mean pooling over every patch, or over the patches that hold real steps only?

Exploratory (session 45; no rule, no decision rests on it): JapaneseVowels' series are 7 to 26 steps long, padded at
the end with zeros to 29, so with window 4 about 46% of the training patches are padding, which the encoder sees and
the mean pooling averages over. A padding-aware model (attention, masking and pooling over real patches) was left
alone in earlier sessions; this asks whether the read-out alone would gain. The 8-block encoders of the few-label
depth study (`depth_few_labels.py`, library default pretraining, window 4, seeds 0 to 2) and the untrained encoder
of each seed; features of the official training series (the bench's train + validation), the last block, standardised
per channel over every step as the bench's scaling does; a series' length is its last step with a non-zero channel;
5-fold stratified cross-validation of `StandardScaler` + `LogisticRegression` (C = 1). The test split is not read.

    python benchmarks/padding_pool_jv.py --cache-dir <depth study's cache>   # under a minute at one thread
"""
import argparse, glob, json, math, warnings; warnings.simplefilter('ignore')
from pathlib import Path

import numpy as np, torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tsai_timemae.all import TimeMAE
from tsai_timemae.bench import bench_config, load_dataset
torch.set_num_threads(1)
p = argparse.ArgumentParser(description=__doc__.splitlines()[0]); p.add_argument('--cache-dir', required=True)
CACHE = p.parse_args().cache_dir
cfg = bench_config('JapaneseVowels')
ds = load_dataset('JapaneseVowels', None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
X = np.concatenate([ds.X_train, ds.X_valid]); y = np.concatenate([ds.y_train, ds.y_valid])
nz = (X != 0).any(1)                                       # [n, T]: a step with any non-zero channel
lengths = np.array([np.nonzero(r)[0].max() + 1 for r in nz])
mu, sd = X.mean((0, 2), keepdims=True), X.std((0, 2), keepdims=True)   # per channel over every step, padding included
Xs = torch.from_numpy(((X - mu) / sd).astype('float32'))
rows = [json.loads(l) for l in open(Path(__file__).parent / 'ablation' / 'depth_few_labels.jsonl')]
w = {r['seed']: r['weights'] for r in rows if r['dataset'] == 'JapaneseVowels' and r['n_layers'] == 8 and r['weights']}
folds = StratifiedKFold(5, shuffle=True, random_state=0)
def score(F): return 100 * cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=1, max_iter=3000)), F, y, cv=folds).mean()
print('series', len(X), 'length', X.shape[-1], 'real lengths', lengths.min(), '-', lengths.max(), 'padded patch share',
      round(1 - np.mean(np.ceil(lengths / 4)) / math.ceil(X.shape[-1] / 4), 3))
for seed in sorted(w):
    path = glob.glob(f'{CACHE}/JapaneseVowels/{w[seed]}')[0]
    torch.manual_seed(seed)
    for name, model in (('pretrained', TimeMAE.from_pretrained(path)), ('untrained', TimeMAE(12, None, window=4, seq_len=X.shape[-1]))):
        with torch.no_grad(): z = model.eval().backbone(Xs).numpy()          # [n, d, P]
        P = z.shape[-1]; real = np.ceil(lengths / 4).astype(int)
        mask = (np.arange(P)[None] < real[:, None]).astype('float32')       # [n, P]
        all_mean = z.mean(-1); real_mean = (z * mask[:, None]).sum(-1) / mask.sum(-1, keepdims=True)
        print(f'seed {seed} {name:10s} every patch {score(all_mean):.2f}  real patches {score(real_mean):.2f}')
