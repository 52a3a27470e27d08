"""Is FineAll's gain from the ordered read-out on UWaveGestureLibrary the order, or the normalisation in its head?

In the label study FineAll's default head is `GAP1d` + `Linear`; `flatten_probe_head` (`--readout flatten`) also
puts a `BatchNorm1d` without affine parameters in front of its `Linear`. So "FineAll, ordered" changes two things at
once. This script runs the label study's FineAll a third way: the mean over patches with that same normalisation
(`linear_probe_head`, FineLast's head), everything else the bench's (`run_timemae_transfer`: same cached encoders,
committed labelled subsets, fixed schedule, learning rate, final epoch, test split). It also reruns the default head,
which must reproduce the committed `timemae_fineall_kmeans` rows (the check that the encoders and protocol are the
same), and TimeMAE from scratch with the normalised mean head (`timemae_scratch`'s runner): its untrained twin.

    python benchmarks/fineall_head_control.py --cache-dir benchmarks/cache --out benchmarks/ablation/fineall_head.jsonl

One JSON line per seed, label fraction and head (a row already in `--out` is not run again); `--report` prints the
table with the committed rows beside it. The encoders must be the label study's (its cache): none is pretrained here.
"""
import argparse
import contextlib
import io
import json
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py
from tsai_timemae import bench
from tsai_timemae.transfer import linear_probe_head

HERE = Path(__file__).resolve().parent
DATASET = 'UWaveGestureLibrary'
# row label -> (the bench's runner, the head it gets); the first two are FineAll, the last its untrained twin
HEADS = {'mean': ('fineall', {}), 'mean + BatchNorm': ('fineall', {'custom_head': linear_probe_head}),
         'from scratch, mean + BatchNorm': ('scratch', {'custom_head': linear_probe_head})}
MEAN_ROW, FLATTEN_ROW = 'timemae_fineall_kmeans', 'timemae_fineall_kmeans_flatten'  # the label study's committed rows


def committed(name: str, fraction: float, seed: int) -> float:
    r = json.loads((HERE / 'results' / DATASET / f'{name}_{bench.fraction_key(fraction)}_seed{seed}.json').read_text())
    return r['metrics']['accuracy']


def run(seeds, fractions, cache_dir, out):
    done = set()
    if Path(out).is_file():
        done = {(r['seed'], r['label_fraction'], r['head']) for r in read_records(out)}
    ds = None
    for seed in seeds:
        for frac in fractions:
            cfg = bench.run_config(DATASET, 'timemae_fineall', 'kmeans', label_fraction=frac, pretrain_epochs=100)
            settings = bench.method_settings(cfg, 'timemae_fineall')
            if ds is None: ds = bench.load_dataset(DATASET, None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
            idx = bench.fixed_label_subset(ds, frac, seed, HERE)  # the committed subset (an error if the data changed)
            for head, (kind, kwargs) in HEADS.items():
                if (seed, frac, head) in done: continue
                stem = bench.cache_path(cache_dir, ds.name, ds.source, settings.pretraining, seed)
                if bench._cached(stem) is None:
                    raise SystemExit(f'No finished encoder at {stem}.pth: point --cache-dir at the label study\'s cache.')
                work = Path(tempfile.mkdtemp(prefix='timemae_head_'))
                # the bench's runs with only the head swapped: its runners take their head from here
                original = bench._readout_head
                bench._readout_head = lambda s, kwargs=kwargs: dict(kwargs)
                try:
                    with contextlib.redirect_stdout(io.StringIO()):
                        if kind == 'fineall':
                            res = bench.run_timemae_transfer('fineall', ds, settings, seed, cache_dir, work, bar=False,
                                                             label_idx=idx)
                        else:
                            scratch = bench.method_settings(cfg, 'timemae_scratch')
                            res = bench.run_timemae_scratch(ds, scratch, seed, cache_dir, work, bar=False, label_idx=idx)
                finally:
                    bench._readout_head = original
                    shutil.rmtree(work, ignore_errors=True)
                rec = {'dataset': ds.name, 'seed': seed, 'label_fraction': frac, 'n_labelled': len(idx), 'head': head,
                       'accuracy': res['metrics']['accuracy'],
                       'weights': Path(res['pretraining']['weights']).name if 'pretraining' in res else None}
                log_record(rec, out)


def report(path) -> str:
    runs = defaultdict(dict)
    for r in read_records(path):
        runs[(r['label_fraction'], r['n_labelled'])].setdefault(r['head'], {})[r['seed']] = r['accuracy']
    cols = list(HEADS) + ['ordered (committed `*_flatten` row)']
    lines = ['| labels (series) | seeds | ' + ' | '.join(c if c.startswith('from') else f'FineAll, {c}' for c in cols) + ' | seeds where the mean rerun = the committed row |',
             '|---|---|' + '---|' * (len(cols) + 1)]
    for (frac, n), by_head in sorted(runs.items()):
        seeds = sorted(set.intersection(*(set(v) for v in by_head.values())))
        vals = {h: [by_head[h][s] for s in seeds] for h in HEADS}
        vals[cols[-1]] = [committed(FLATTEN_ROW, frac, s) for s in seeds]
        same = sum(v == committed(MEAN_ROW, frac, s) for v, s in zip(vals['mean'], seeds))
        cell = lambda v: f'{100 * np.mean(v):.2f} ± {100 * np.std(v):.2f}'
        lines.append(f'| {frac:g} ({n}) | {len(seeds)} | ' + ' | '.join(cell(vals[c]) for c in cols) +
                     f' | {same} of {len(seeds)} |')
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--label-fraction', type=float, nargs='+', default=[0.1, 0.25, 0.5, 1.0])
    p.add_argument('--cache-dir', default='benchmarks/cache', help="the label study's pretrained encoders")
    p.add_argument('--out', default=str(HERE / 'ablation' / 'fineall_head.jsonl'))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--report', action='store_true', help='print the table of --out and stop')
    a = p.parse_args()
    if a.report: return print(report(a.out))
    torch.set_num_threads(a.threads)
    run(a.seeds, a.label_fraction, a.cache_dir, a.out)


if __name__ == '__main__':
    main()
