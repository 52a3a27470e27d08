"""Two rows of a bench results folder compared seed by seed (nothing is trained or re-scored).

A mean ± std per row hides whether one row wins on the same seeds; with a pretrained encoder and its untrained
twin of the same seed, the paired difference is what says whether pretraining helped beyond the seed spread. Prints
each seed's difference in test accuracy (points), their mean, standard deviation (ddof 0, as the reports' ±),
standard error (ddof 1), how many seeds are above, and the Wilcoxon signed-rank p-value (scipy). A pair whose records
saw other labelled series or other data, or a `--quick` smoke run, is refused.

    python benchmarks/paired_seeds.py benchmarks/extra/uwave_10seeds/results/UWaveGestureLibrary \\
        timemae_linear_kmeans timemae_linear_untrained

With `--probe`, the folder is one `timemae probe` run (`<out>/<dataset>/<tag>`) and each seed's pretrained probe
score is paired with its untrained encoder's, from the same record; a last line gives each fold's difference averaged
over the seeds and the standard error over folds (the luck of the scored series, which a spread over seeds omits):

    python benchmarks/paired_seeds.py --probe benchmarks/probe/GunPoint/auto_window_unseen

With `--probe-against OTHER`, two probe tags of one data set are paired seed by seed: each seed's pretrained score
in the folder against OTHER's of the same seed (two pretraining settings, the same seeds, folds and epochs; a pair
that differs in protocol, folds, epochs, architecture or data is refused), with each side's untrained score beside:

    python benchmarks/paired_seeds.py --probe benchmarks/probe/GunPoint/kmeans_center --probe-against benchmarks/probe/GunPoint/auto_window

With `--baseline-folder`, the baseline row is read from another results folder: two runs of one study (e.g. the
same control run twice), or a row against another study's baseline of the same seeds:

    python benchmarks/paired_seeds.py benchmarks/transfer/har100ep/results/UEA-Epilepsy har_finelast \\
        frozen_random_har_arch --baseline-folder benchmarks/transfer/results/UEA-Epilepsy
"""
import argparse
import json
import math
import statistics
from pathlib import Path

from scipy.stats import wilcoxon

from label_goal import check_comparable


def records(folder: Path, name: str) -> dict:
    "The records `<folder>/<name>_seed<k>.json` by seed (label-study files, `<name>_labels<f>_seed<k>`, stay out)."
    out = {}
    for f in folder.glob(f'{name}_seed*.json'):
        seed = f.stem[len(name) + len('_seed'):]
        if seed.isdigit(): out[int(seed)] = json.loads(f.read_text())
    return out


def accuracies(folder: Path, name: str) -> dict:
    "Test accuracy (%) of `<folder>/<name>_seed<k>.json` by seed."
    return {s: 100 * r['metrics']['accuracy'] for s, r in records(folder, name).items()}


def probe_scores(folder: Path) -> tuple[dict, dict]:
    "Pretrained and untrained probe scores (%) by seed, from the records `<folder>/seed<k>.json` of one probe tag."
    pre, raw = {}, {}
    for f in folder.glob('seed*.json'):
        r = json.loads(f.read_text())
        if r.get('final_score') is not None:
            pre[r['seed']], raw[r['seed']] = 100 * r['final_score'], 100 * r['untrained_score']
    return pre, raw


def _probe_records(folder: Path) -> dict:
    "The finished probe records `<folder>/seed<k>.json` by seed."
    recs = (json.loads(f.read_text()) for f in folder.glob('seed*.json'))
    return {r['seed']: r for r in recs if r.get('final_score') is not None}


# what two probe records must share for their pretrained scores to be a paired comparison of pretraining settings
PROBE_PAIRED_KEYS = ('dataset', 'protocol', 'folds', 'epochs', 'steps', 'arch', 'bs_used', 'lr', 'sched', 'by_recording',
                     'pretrain_fraction', 'augment')


def probe_against(folder: Path, baseline: Path) -> str:
    """Pretrained probe scores of `folder` minus those of `baseline` (another tag) by seed, refused where a pair ran
    another protocol, length, architecture or data (its `data.sha1`, where both records have one); then each side's
    untrained mean, which the same seed and architecture should give alike."""
    a, b = _probe_records(folder), _probe_records(baseline)
    for name, recs in ((folder, a), (baseline, b)):
        if not recs: raise SystemExit(f'no finished probe records seed<k>.json in {name}')
    for s in sorted(set(a) & set(b)):
        # an older record lacks the keys added since (by_recording, augment): absent, False and [] mean the same
        bad = [k for k in PROBE_PAIRED_KEYS if (a[s].get(k) or None) != (b[s].get(k) or None)]
        sha = [r.get('data', {}).get('sha1') for r in (a[s], b[s])]
        if None not in sha and sha[0] != sha[1]: bad.append('data.sha1')
        if bad:
            raise SystemExit(f'{folder} and {baseline}, seed {s}: not a paired comparison, they differ in '
                             + ', '.join(f'{k} ({a[s].get(k)!r} against {b[s].get(k)!r})' if k != 'data.sha1' else
                                         f'data ({sha[0]} against {sha[1]})' for k in bad))
    score = lambda recs, key: {s: 100 * r[key] for s, r in recs.items()}
    text = summarize(score(a, 'final_score'), score(b, 'final_score'), f'{folder} against {baseline}',
                     folder.name, baseline.name)
    seeds = sorted(set(a) & set(b))
    untrained = lambda recs: statistics.mean(100 * recs[s]['untrained_score'] for s in seeds)
    return text + f'\nuntrained, the same seeds: {folder.name} {untrained(a):.2f}, {baseline.name} {untrained(b):.2f}'


def fold_differences(folder: Path) -> list:
    """Pretrained minus untrained score (points) of each cross-validation fold, averaged over the seeds: the folds are
    the same for every seed, so their spread is the luck of which series are scored, which the seeds share."""
    recs = [json.loads(f.read_text()) for f in sorted(folder.glob('seed*.json'))]
    recs = [r for r in recs if r.get('fold_scores') and r.get('final_score') is not None]
    if not recs: return []
    n = min(len(r['fold_scores']) for r in recs)
    return [statistics.mean(100 * (r['fold_scores'][k][1] - r['fold_scores'][k][0]) for r in recs) for k in range(n)]


def fold_summary(folder: Path) -> str:
    d = fold_differences(folder)
    if len(d) < 2: return f'{folder}: no per-fold scores'
    return (f'per fold (mean over seeds)  ' + '  '.join(f'{x:+6.2f}' for x in d) + f'; mean {statistics.mean(d):+.2f}, '
            f'standard error over the {len(d)} folds {statistics.stdev(d) / math.sqrt(len(d)):.2f}')


def paired_summary(folder: Path, row: str, baseline: str, baseline_folder: Path | None = None) -> str:
    """The per-seed differences of `row` minus `baseline` (from `baseline_folder`, else `folder`) over the seeds both
    have, and their summary, as text. Each pair must be comparable (`label_goal.check_comparable`: the same labelled
    series and data, no `--quick` run)."""
    a, b = records(folder, row), records(baseline_folder or folder, baseline)
    for name, recs, where in ((row, a, folder), (baseline, b, baseline_folder or folder)):
        if not recs: raise SystemExit(f'no result files {name}_seed<k>.json in {where}')
    if baseline_folder is not None: folder = f'{folder} against {baseline_folder}'
    for s in sorted(set(a) & set(b)): check_comparable(a[s], b[s], f'{row} and {baseline}, seed {s}')
    acc = lambda recs: {s: 100 * r['metrics']['accuracy'] for s, r in recs.items()}
    return summarize(acc(a), acc(b), folder, row, baseline)


def summarize(a: dict, b: dict, folder, row: str, baseline: str) -> str:
    "The per-seed differences of scores `a` minus `b` (by seed) over the seeds both have, and their summary."
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        raise SystemExit(f'{folder}: {row} and {baseline} share {len(seeds)} seed(s); at least 2 are needed')
    d = [round(a[s] - b[s], 9) + 0. for s in seeds]  # no -0.00 from rounding noise
    lines = [f'{row} - {baseline}, {folder}', 'seed  ' + '  '.join(f'{s:>6d}' for s in seeds),
             'diff  ' + '  '.join(f'{x:+6.2f}' for x in d),
             f'{row} {statistics.mean(a[s] for s in seeds):.2f}, {baseline} {statistics.mean(b[s] for s in seeds):.2f}; '
             f'difference {statistics.mean(d):+.2f} ± {statistics.pstdev(d):.2f} (standard error '
             f'{statistics.stdev(d) / math.sqrt(len(d)):.2f}), {sum(x > 0 for x in d)} of {len(d)} seeds above ({sum(x == 0 for x in d)} level), '
             f'Wilcoxon signed-rank p = ' + (f'{wilcoxon(d).pvalue:.3g}' if any(d) else '1 (every difference is 0)')]
    return '\n'.join(lines)


if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('folder', type=Path, help='results/<dataset> folder of a bench run (with --probe: <out>/<dataset>/<tag>)')
    p.add_argument('row', nargs='?', help='method row, e.g. timemae_linear_kmeans')
    p.add_argument('baseline', nargs='?', help='method row to subtract, e.g. timemae_linear_untrained')
    p.add_argument('--probe', action='store_true', help='pair each probe record\'s pretrained and untrained scores')
    p.add_argument('--baseline-folder', type=Path, help='read the baseline row from this results folder (default: folder)')
    p.add_argument('--probe-against', type=Path, help="with --probe: pair the folder's pretrained scores with this tag folder's")
    args = p.parse_args()
    if args.probe_against and not args.probe: p.error('--probe-against pairs two probe tags: pass --probe too')
    if args.probe:
        if args.row or args.baseline or args.baseline_folder:
            p.error('--probe takes the folder of one probe tag, no rows and no --baseline-folder')
        if args.probe_against: print(probe_against(args.folder, args.probe_against))
        else:
            print(summarize(*probe_scores(args.folder), args.folder, 'pretrained', 'untrained'))
            print(fold_summary(args.folder))
    elif not (args.row and args.baseline): p.error('name the row and the baseline (or pass --probe)')
    else: print(paired_summary(args.folder, args.row, args.baseline, args.baseline_folder))
