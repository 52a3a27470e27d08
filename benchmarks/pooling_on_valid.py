"""Why TimeMAE trails TSTPlus with few UWaveGestureLibrary labels: is it the mean pooling?

With 8 labelled UWave series (one per class) every TimeMAE row of the label study sits near 37% while TSTPlus, from
scratch or after MVP, reaches 63% (BENCHMARKS.md). TSTPlus's head keeps the order of the time steps; FineLast, FineAll
and the linear evaluation average the patch representations over positions first (the paper's protocol). A gesture
is a shape in time, so the average may discard what distinguishes the classes.

This script asks that on validation labels only (the series the label protocol never trains on; the test split is
not read). Per seed it builds the label study's encoder (`timemae bench ... --tokenizer kmeans`, the library
default, cached under `--cache-dir`) and an untrained one of the same architecture and seed, and fits the authors'
linear evaluation (`StandardScaler` + `LogisticRegression`, C = 1) on the labelled subset of the training series
(`label_subset`, the label study's draw), scored on the validation split, with three read-outs of the same
patch representations `[d_model, patches]`: their mean (the protocol), mean and max concatenated, and all of them in
order (flattened). A logistic regression on the standardised raw series is the reference without any encoder.

    python benchmarks/pooling_on_valid.py UWaveGestureLibrary --pretrain-epochs 100 --out benchmarks/ablation/pooling.jsonl

One JSON line per data set, seed and label fraction; `--report` prints the table from that file. HAR and Epilepsy
(session 18; 25 to 55 minutes of pretraining per seed on one thread, Epilepsy run for one seed):

    python benchmarks/pooling_on_valid.py HAR --label-fraction 0.01 0.05 0.1 0.2 1 --out benchmarks/ablation/pooling.jsonl
    python benchmarks/pooling_on_valid.py Epilepsy --seeds 0 --label-fraction 0.01 0.05 0.1 0.2 1 --out benchmarks/ablation/pooling.jsonl

`--split test` is the final table, run once after the choice above: the label study's own labelled subsets
(`benchmarks/label_subsets/`, checked against `label_subset`'s draw) and its test split, so the "mean" columns are
the label study's `timemae_linear_untrained` and `timemae_linear_kmeans` rows again (a check that the encoders are the
same) and the others are what the read-out changes:

    python benchmarks/pooling_on_valid.py UWaveGestureLibrary --pretrain-epochs 100 --label-fraction 0.1 0.25 0.5 1 --split test --out benchmarks/ablation/pooling_test.jsonl
"""
import argparse
import contextlib
import io
import json
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from tsai.all import ts_learner

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py
from tsai_timemae.all import POOLS, TimeMAE, timemae_learner
from tsai_timemae.bench import fraction_key, load_dataset, make_dls, pretrain_timemae, run_config, timemae_pretraining
from tsai_timemae.data import label_subset

# the library's read-outs (`get_embeddings(pool=...)`), and mean and max concatenated, on numpy `[n, d_model, patches]`
READOUTS = {'mean': lambda z: POOLS['mean'](torch.from_numpy(z)).numpy(),
            'mean+max': lambda z: np.concatenate([z.mean(-1), z.max(-1)], 1),
            'flatten': lambda z: POOLS['flatten'](torch.from_numpy(z)).numpy()}


def patch_representations(learn, X) -> np.ndarray:
    "The encoder's output `[n, d_model, patches]` for `X`, through the learner's own batch transforms (its scaling)."
    model = learn.model.eval()
    with torch.no_grad():
        out = [model.backbone(b[0]).cpu() for b in learn.dls.valid.new_dl(X, bs=256)]
    return torch.cat(out).as_subclass(torch.Tensor).numpy()


def linear_eval(f_fit, y_fit, f_score, y_score) -> float:
    return float(make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(f_fit, y_fit).score(f_score, y_score))


def committed_subset(ds, fraction: float, seed: int) -> np.ndarray:
    "The label study's labelled series for this fraction and seed, as committed; it must be `label_subset`'s draw."
    path = Path(__file__).resolve().parent / 'label_subsets' / ds.name.replace('/', '-') / f'{fraction_key(fraction)}_seed{seed}.json'
    idx = np.asarray(json.loads(path.read_text())['indices'], dtype=int)
    if not np.array_equal(idx, label_subset(ds.y_train, fraction, seed)):
        raise ValueError(f'{path} is not the draw label_subset makes today: the label study would not be comparable')
    return idx


def run(dataset: str, seeds, fractions, pretrain_epochs, cache_dir, out, split='valid'):
    overrides = {} if pretrain_epochs is None else {'pretrain_epochs': pretrain_epochs}
    cfg = run_config(dataset, 'timemae_linear', 'kmeans', **overrides)
    ds = load_dataset(dataset, None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
    pre_s = timemae_pretraining(cfg)
    arch = pre_s.arch
    mean = ds.X_train.mean(axis=(0, 2), keepdims=True)  # the bench's scaling: every training input, per channel
    std = ds.X_train.std(axis=(0, 2), keepdims=True) + 1e-8
    raw = lambda X: ((X - mean) / std).reshape(len(X), -1)
    for seed in seeds:
        with contextlib.redirect_stdout(io.StringIO()):
            pre = pretrain_timemae(ds, pre_s, seed, cache_dir, bar=False)
            dls = make_dls(ds, cfg['bs'], seed, label_idx=np.arange(len(ds.y_train)))
            learners = {'untrained': ts_learner(dls, TimeMAE, seed=seed, **asdict(arch)),
                        'pretrained': timemae_learner(dls, pre['weights'], seed=seed, n_heads=arch.n_heads,
                                                      d_ff=arch.d_ff, dropout=arch.dropout)}
        X_score, y_score = (ds.X_valid, ds.y_valid) if split == 'valid' else (ds.X_test, np.asarray(ds.y_test).astype(ds.y_train.dtype))
        reps = {k: (patch_representations(l, ds.X_train), patch_representations(l, X_score)) for k, l in learners.items()}
        for frac in fractions:
            idx = label_subset(ds.y_train, frac, seed) if split == 'valid' else committed_subset(ds, frac, seed)
            y_fit = ds.y_train[idx]
            scores = {'raw series': linear_eval(raw(ds.X_train[idx]), y_fit, raw(X_score), y_score)}
            for enc, (z_tr, z_va) in reps.items():
                for name, read in READOUTS.items():
                    scores[f'{enc} {name}'] = linear_eval(read(z_tr[idx]), y_fit, read(z_va), y_score)
            rec = {'dataset': ds.name, 'seed': seed, 'label_fraction': frac, 'n_labelled': len(idx), 'split': split,
                   f'n_{split}': len(y_score), 'pretrain_epochs': pre_s.epochs, 'patches': int(reps['untrained'][0].shape[-1]),
                   f'{split}_accuracy': scores}
            log_record(rec, out)


def report(path) -> str:
    groups = defaultdict(list)
    for r in read_records(path):
        split = r.get('split', 'valid')
        groups[(r['dataset'], split, r[f'n_{split}'], r['label_fraction'], r['n_labelled'])].append(r[f'{split}_accuracy'])
    cols = list(next(iter(groups.values()))[0])
    lines = ['| data set | labels (series) | seeds | ' + ' | '.join(cols) + ' |', '|---|---|---|' + '---|' * len(cols)]
    for (ds, split, n_scored, frac, n), runs in sorted(groups.items()):
        cells = [f"{100 * np.mean([r[c] for r in runs]):.1f} ± {100 * np.std([r[c] for r in runs]):.1f}" for c in cols]
        lines.append(f'| {ds} ({split} {n_scored}) | {frac:g} ({n}) | {len(runs)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('datasets', nargs='*')
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--label-fraction', type=float, nargs='+', default=[0.1, 0.25, 1.0])
    p.add_argument('--pretrain-epochs', type=int, default=None, help="default: the bench's for the data set")
    p.add_argument('--cache-dir', default='benchmarks/cache')
    p.add_argument('--out', default=str(Path(__file__).resolve().parent / 'ablation' / 'pooling.jsonl'))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--split', choices=('valid', 'test'), default='valid',
                   help="score on the validation split (choices) or, once, on the test split (the label study's subsets)")
    p.add_argument('--report', action='store_true', help='print the table of --out and stop')
    a = p.parse_args()
    if a.report: return print(report(a.out))
    torch.set_num_threads(a.threads)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    for d in a.datasets: run(d, a.seeds, a.label_fraction, a.pretrain_epochs, a.cache_dir, a.out, a.split)


if __name__ == '__main__':
    main()
