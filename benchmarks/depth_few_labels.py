"""Few labels and encoder depth on the six small sets, on validation: does a 4-block encoder fine-tune better than 8?

**Why.** Session 43 (benchmarks/depth_rule.py) found a 4-block encoder's linear evaluation above the 8-block one's on
all six small sets' test splits, with every training label. It did not adopt the size rule, because `make demo`
(BasicMotions, 8 labelled series) fine-tuned lower with 4 blocks on every pretraining seed, and a logistic regression
on the same 8 labels lost as much: the 4-block features needed more labels. That was one data set. This asks the
same question of all six small sets with few labels, without reading a test split.

**Protocol, committed before any run of this script.**
- Data: BasicMotions, ECG200, GunPoint, JapaneseVowels, UEA/Epilepsy, UWaveGestureLibrary, the bench's split of the
  official training series into train and validation (`load_dataset`, the bench's `valid_size` and `split_seed`).
- Encoders: the library default pretraining (k-means MCC + normalised MRR, the bench's `timemae_*` with
  `--tokenizer kmeans`), 100 epochs, on every train + validation input (no labels), with the windows of the 10-seed
  linear evaluation (BasicMotions and ECG200 7, GunPoint 9, JapaneseVowels 4, UEA/Epilepsy 10, UWave 13), 8 blocks
  (the default) and 4 (`n_layers=4`); pretraining seeds 0, 1, 2. The 4-block encoders, and UWave's 8-block ones,
  are session 43's, from its cache; the others are pretrained here into the same cache.
- Labels: for each seed, `label_subset(y_train, 0.2, seed)` (stratified, at least one per class: 7 to 43 series).
  Every method and depth of that seed gets the same labelled series.
- Methods, the bench's label-efficiency protocol (fixed schedule, final epoch, no other labels read): FineLast,
  FineAll, the linear evaluation on the labelled series, and from scratch at the same depth. (Added after the first
  rows were read, reported only, not in the rule: the linear evaluation of the untrained encoder of each depth and
  seed, the baseline beside the pretrained one.)
- Scored on every series of the official training split whose label the methods did not get (the validation split
  and the unlabelled rest of train): 33 to 227 series. The test split is not read.
- Rule: a few-label check of the size rule on the test split (a later session) is warranted only if 4 blocks score
  above 8 (mean over the 3 seeds) for FineLast and for FineAll, each on at least 4 of the 6 sets and on average over
  them. Otherwise the question is closed for now: 8 blocks stay the default, and the README's advice (4 blocks for a
  linear probe on a small set with enough labels) stays as it is.

    python benchmarks/depth_few_labels.py --cache-dir <cache> --out benchmarks/ablation/depth_few_labels.jsonl   # about 30 minutes at 2 threads
    python benchmarks/depth_few_labels.py --report --out benchmarks/ablation/depth_few_labels.jsonl

**Outcome (added after the runs).** Not met: 4 blocks above 8 for FineLast on 4 of 6 sets (+1.44 on average), for
FineAll on 3 of 6 (+0.18); 8 blocks stay. Two departures: UWave's session-43 encoders were refused by the bench's
cache check (they record a library default, `arch.n_series`, of the depth-rule code that was never committed), so
UWave's 8- and 4-block encoders were pretrained again, with the same settings, into a new cache folder; and the rows
of `timemae_linear_untrained` were added after the first rows had been read (reported, not in the rule). The sizes
above were estimates written before the runs: the runs had 8 to 45 labelled and 32 to 225 scored series, and took
about 30 minutes at 2 threads (the command below says so since). benchmarks/notes.md has the table.
"""
import argparse
import contextlib
import dataclasses
import io
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from jsonl_log import log_record, read_records  # benchmarks/jsonl_log.py

WINDOWS = {'BasicMotions': 7, 'ECG200': 7, 'GunPoint': 9, 'JapaneseVowels': 4, 'UEA/Epilepsy': 10, 'UWaveGestureLibrary': 13}
METHODS = ('timemae_finelast', 'timemae_fineall', 'timemae_linear', 'timemae_scratch', 'timemae_linear_untrained')
DEPTHS = (8, 4)
FRACTION = 0.2
EPOCHS = 100


def held_out(ds, idx):
    """`ds` with its test arrays replaced by every official training series outside the labelled `idx`: the
    validation split and the unlabelled rest of train. The bench's runners score `X_test`, so they score these."""
    rest = np.setdiff1d(np.arange(len(ds.y_train)), idx)
    return dataclasses.replace(ds, X_test=np.concatenate([ds.X_train[rest], ds.X_valid]),
                               y_test=np.concatenate([ds.y_train[rest], ds.y_valid]))


def run(datasets, seeds, cache_dir, out, threads):
    import torch
    from tsai_timemae.bench import RUNNERS, bench_config, load_dataset, method_settings, run_config
    from tsai_timemae.data import label_subset
    torch.set_num_threads(threads)
    done = {(r['dataset'], r['seed'], r['n_layers'], r['method']) for r in (read_records(out) if Path(out).exists() else [])}
    for name in datasets:
        cfg = bench_config(name)  # the split does not depend on the seed or the depth: read once per data set
        ds = load_dataset(name, None, cfg['valid_size'], cfg['split_seed'], cfg['pad_value'])
        for seed in seeds:
            idx = label_subset(ds.y_train, FRACTION, seed)
            ev = held_out(ds, idx)
            for depth in DEPTHS:
                over = {'window': WINDOWS[name], 'n_layers': depth, 'pretrain_epochs': EPOCHS}
                for m in METHODS:
                    if (ds.name, seed, depth, m) in done: continue
                    s = method_settings(run_config(name, m, 'kmeans', label_fraction=FRACTION, **over), m)
                    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
                        res = RUNNERS[m](ev, s, seed, cache_dir, tmp, bar=False, label_idx=idx)
                    pre = res.get('pretraining') or {}
                    row = {'dataset': ds.name, 'seed': seed, 'n_layers': depth, 'method': m, 'window': WINDOWS[name],
                           'n_labelled': int(len(idx)), 'n_scored': int(len(ev.y_test)),
                           'accuracy': res['metrics']['accuracy'], 'macro_f1': res['metrics']['macro_f1'],
                           'weights': pre.get('weights', '').split('/')[-1] or None, 'cached': pre.get('cached')}
                    log_record(row, out)  # prints the row too


def report(out):
    rows = read_records(out)
    acc = defaultdict(dict)  # (dataset, method, depth) -> {seed: accuracy %}
    for r in rows: acc[(r['dataset'], r['method'], r['n_layers'])][r['seed']] = 100 * r['accuracy']
    sets = list(dict.fromkeys(r['dataset'] for r in rows))
    n_lab = {r['dataset']: (r['n_labelled'], r['n_scored']) for r in rows}
    print('Validation: 20% of the training labels, scored on the other official training series; mean over seeds '
          '(4 - 8 per seed):\n')
    print('| data set | labelled / scored | method | seeds | 8 blocks | 4 blocks | 4 - 8 |\n|---|---|---|---|---|---|---|')
    gains = defaultdict(dict)
    for name in sets:
        for m in METHODS:
            a, b = acc.get((name, m, 8), {}), acc.get((name, m, 4), {})
            seeds = sorted(set(a) & set(b))
            if not seeds: continue
            d = [b[s] - a[s] for s in seeds]
            gains[m][name] = np.mean(d)
            print(f"| {name} | {n_lab[name][0]} / {n_lab[name][1]} | {m.removeprefix('timemae_')} | {','.join(map(str, seeds))} | "
                  f"{np.mean([a[s] for s in seeds]):.2f} | {np.mean([b[s] for s in seeds]):.2f} | "
                  f"{np.mean(d):+.2f} ({', '.join(f'{x:+.1f}' for x in d)}) |")
    print()
    verdicts = []
    for m in ('timemae_finelast', 'timemae_fineall'):
        g = gains.get(m, {})
        above, mean = sum(x > 1e-9 for x in g.values()), (np.mean(list(g.values())) if g else float('nan'))
        print(f"{m.removeprefix('timemae_')}: 4 blocks above 8 on {above} of {len(g)} sets, {mean:+.2f} on average")
        verdicts.append(len(g) == len(WINDOWS) and above >= 4 and mean > 0)
    for m in ('timemae_linear', 'timemae_scratch', 'timemae_linear_untrained'):
        g = gains.get(m, {})
        if g: print(f"{m.removeprefix('timemae_')} (reported, not in the rule): 4 blocks above 8 on "
                    f"{sum(x > 1e-9 for x in g.values())} of {len(g)} sets, {np.mean(list(g.values())):+.2f} on average")
    print('\nPretrained against its baseline of the same depth and seed (mean over seeds; seeds above):\n')
    print('| data set | depth | FineAll - from scratch | FineLast - from scratch | linear - untrained linear |\n|---|---|---|---|---|')
    for name in sets:
        for depth in DEPTHS:
            cells = []
            for m, base in (('timemae_fineall', 'timemae_scratch'), ('timemae_finelast', 'timemae_scratch'),
                            ('timemae_linear', 'timemae_linear_untrained')):
                a, b = acc.get((name, m, depth), {}), acc.get((name, base, depth), {})
                seeds = sorted(set(a) & set(b))
                d = [a[s] - b[s] for s in seeds]
                cells.append(f'{np.mean(d):+.2f} ({sum(x > 1e-9 for x in d)} of {len(d)})' if d else '–')
            print(f'| {name} | {depth} | ' + ' | '.join(cells) + ' |')
    if any(len(gains.get(m, {})) < len(WINDOWS) for m in ('timemae_finelast', 'timemae_fineall')):
        print('\nRule: not all six sets have run.')
    else:
        print('\nRule: ' + ('met: a few-label check of the size rule on the test split is warranted.' if all(verdicts) else
                            'not met: 8 blocks stay the default; the question is closed for now.'))


def command_line(argv, description: str, default_out: str, run_fn, report_fn) -> int:
    "The command line of this protocol's scripts (this one and read_block_few_labels.py): run the data sets, or --report."
    p = argparse.ArgumentParser(description=description)
    p.add_argument('datasets', nargs='*', default=list(WINDOWS))
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--cache-dir', default='benchmarks/cache')
    p.add_argument('--out', default=default_out)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--report', action='store_true')
    a = p.parse_args(argv)
    unknown = set(a.datasets) - set(WINDOWS)
    if unknown: p.error(f'unknown data sets {sorted(unknown)}: this protocol covers {list(WINDOWS)}')
    if a.report: report_fn(a.out)
    else: run_fn(a.datasets, a.seeds, a.cache_dir, a.out, a.threads)
    return 0


def main(argv=None):
    return command_line(argv, __doc__.splitlines()[0], 'benchmarks/ablation/depth_few_labels.jsonl', run, report)


if __name__ == '__main__':
    sys.exit(main())
