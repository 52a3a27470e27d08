"""Issue 15's goal, checked from result files: with a small share of the labels, does TimeMAE (FineLast, FineAll or the
linear evaluation) beat from-scratch TimeMAE and InceptionTimePlus by more than two standard deviations over seeds?

Reads the label-efficiency result files (`<method>_labels<f>_seed<k>.json`; nothing is trained or re-scored). The
TimeMAE rows can come from another folder than the baselines (`--timemae-dir`), e.g. the 40-epoch encoders of
`benchmarks/extra/kmeans_40ep/`; both use the same stratified subsets per seed, the same data and no `--quick`
run (the script checks that). A row
passes when the difference of the means exceeds twice the larger of the two standard deviations (ddof 0, as the
report's ±), and it also prints the per-seed differences.

That criterion is the issue's, not a significance test: it ignores that both rows of a seed share their labelled
series, and a table holds many comparisons. So each row also gets the paired view: the mean of the per-seed
differences ± its standard error (ddof 1) and the paired t (n - 1 degrees of freedom; with 3 seeds |t| > 4.30 is
p < 0.05 two-sided for one comparison, before any correction for the table's many).

With `--readout flatten` the TimeMAE rows are the ordered read-out's (`timemae bench ... --readout flatten`, rows
`*_flatten`) and from-scratch TimeMAE is compared twice: with the paper's mean-pooled head (the goal's baseline) and
with the same ordered head (`timemae_scratch_flatten`), which tells the pretraining's share of a gain from the head's.

    python benchmarks/label_goal.py HAR
    python benchmarks/label_goal.py Epilepsy --timemae-dir benchmarks/extra/kmeans_40ep/results
    python benchmarks/label_goal.py UWaveGestureLibrary --readout flatten --fractions 0.1 0.25 0.5 1
"""
import argparse
import json
import statistics
from pathlib import Path

from tsai_timemae.bench import _flags, comparable_settings, fraction_text, run_overrides, unused_overrides

HERE = Path(__file__).resolve().parent
TIMEMAE = ('timemae_finelast_kmeans', 'timemae_fineall_kmeans', 'timemae_linear_kmeans')
BASELINES = ('timemae_scratch', 'inceptiontimeplus')
# per read-out: the TimeMAE rows and the baselines they are held against
ROWS = {'mean': (TIMEMAE, BASELINES),
        'flatten': (tuple(f'{n}_flatten' for n in TIMEMAE), ('timemae_scratch', 'timemae_scratch_flatten', 'inceptiontimeplus'))}


def fraction_name(f) -> str:
    "A label fraction as the bench names its files: '0.01', '1' (not '1.0')."
    try: v = float(f)
    except (TypeError, ValueError): raise ValueError(f'a label fraction is a number in (0, 1], got {f!r}') from None
    if not 0 < v <= 1: raise ValueError(f'a label fraction is a number in (0, 1], got {f!r}')
    return fraction_text(v)  # the bench's own naming: `%g` alone reads 0.3125001 as 0.3125's files


def runs(root: Path, dataset: str, name: str, fraction: str, seeds) -> list:
    "The result records of one row: `<root>/<dataset>/<name>_labels<fraction>_seed<k>.json`, one per seed."
    method = name.removesuffix('_flatten').removesuffix('_kmeans')
    extra = (' --tokenizer kmeans' if name.removesuffix('_flatten').endswith('_kmeans') else '') + \
            (' --readout flatten' if name.endswith('_flatten') else '')
    paths = {s: root / dataset / f'{name}_labels{fraction}_seed{s}.json' for s in seeds}
    # the flags a seed of the row recorded (`--pretrain-epochs 100`, ...): a missing seed's command runs it like the others
    sibling = next((json.loads(p.read_text()) for p in paths.values() if p.is_file()), None)
    flags = ''
    if sibling is not None and 'overrides' in sibling:
        try:
            row = {'overrides': run_overrides(sibling), 'unused': unused_overrides(sibling)}  # as the bench's report reads it
            flags = ''.join(f" --{k.replace('_', '-')} {v}" for k, v in _flags(row).items())
        except (KeyError, TypeError, ValueError): flags = ''  # a record too old or too odd to say: the plain command
    command = lambda s, redo='': (f'`timemae bench {dataset} --methods {method}{extra}{flags} --label-fraction {fraction} '
                                  f'--seeds {s}{redo}` (into that folder)')
    out = []
    for s, path in paths.items():
        if not path.is_file():
            raise FileNotFoundError(f'no result for {name} at {fraction} of the labels, seed {s} ({path}): run '
                                    f'{command(s)}, or leave that fraction or seed out.')
        rec = json.loads(path.read_text())
        if 'labelled_idx' not in rec:  # nothing to pair its labelled series with another row's by
            raise ValueError(f'{path} records no labelled series (`labelled_idx`): not a label-fraction run of `timemae bench`.')
        if 'label_fraction' in rec and rec['label_fraction'] != float(fraction):
            raise ValueError(f"{path} records label fraction {rec['label_fraction']}, not {fraction}: a file renamed "
                             f"by hand? Redo it: {command(s, ' --overwrite')}.")
        if rec.get('seed', s) != s or rec.get('name', name) != name:
            held = (f"row {rec['name']!r}, " if 'name' in rec else '') + f"seed {rec.get('seed')}"
            raise ValueError(f"{path} records {held}: a file renamed or copied by hand? Redo it: {command(s, ' --overwrite')}.")
        out.append(rec)
    # one row is one set of settings: a seed pretrained or trained otherwise (a file copied in from another folder)
    # would be averaged with the others without a word (the bench's report flags such a row as mixed)
    key = lambda rec: json.dumps(comparable_settings(rec.get('settings', {})), sort_keys=True, default=str)
    for s, rec in zip(seeds[1:], out[1:]):
        if key(rec) != key(out[0]):
            raise ValueError(f'{name} at {fraction} of the labels: seeds {seeds[0]} and {s} were run with different '
                             f"settings (in {root / dataset}), and a row's seeds must share them. Re-run the odd one out "
                             f'with the settings of the others (the bench report gives its command), or leave it out (--seeds).')
    return out


def check_comparable(a: dict, b: dict, what: str):
    """Two records of one seed may be compared: the same labelled series, the same data (`data.sha1`, where both
    record it), and neither a `--quick` smoke run."""
    if a.get('labelled_idx') != b.get('labelled_idx'): raise ValueError(f'{what}: different labelled series')
    if a.get('quick') or b.get('quick'): raise ValueError(f'{what}: a --quick smoke run; run it in full to compare it')
    sa, sb = (r.get('data', {}).get('sha1') for r in (a, b))
    if sa and sb and sa != sb: raise ValueError(f'{what}: made from different data (data.sha1 {sa} and {sb})')


def paired(d: list) -> str:
    "Mean of the per-seed differences ± its standard error (ddof 1), and the paired t; '–' with fewer than 2 seeds."
    if len(d) < 2: return '–'
    m, se = statistics.mean(d), statistics.stdev(d) / len(d) ** .5
    return f'{m:+.2f} ± {se:.2f} (t {m / se:.1f})' if se else f'{m:+.2f} ± 0 (all equal)'


def comparisons(dataset: str, timemae_dir: Path, baseline_dir: Path, fractions=('0.01', '0.05'),
                seeds=(0, 1, 2), readout: str = 'mean') -> list[dict]:
    "Every TimeMAE row against every baseline at each fraction: the accuracies (%) of each seed, `x` and `y`."
    timemae_rows, baselines = ROWS[readout]
    out = []
    for f in map(fraction_name, fractions):
        for name in timemae_rows:
            mine = runs(timemae_dir, dataset, name, f, seeds)
            for base in baselines:
                # the from-scratch twin with the ordered head sits beside the TimeMAE rows, not among the baselines
                other = runs(timemae_dir if base.endswith('_flatten') else baseline_dir, dataset, base, f, seeds)
                for a, b in zip(mine, other):
                    check_comparable(a, b, f'{name} and {base} at {f}, seed {a["seed"]}')
                out.append({'fraction': f, 'name': name, 'base': base, 'x': [100 * r['metrics']['accuracy'] for r in mine],
                            'y': [100 * r['metrics']['accuracy'] for r in other]})
    return out


def margin(c: dict, std=statistics.pstdev) -> tuple[float, float]:
    "The difference of the means and the goal's bar, twice the larger standard deviation (`std`: ddof 0 by default)."
    return statistics.mean(c['x']) - statistics.mean(c['y']), 2 * max(std(c['x']), std(c['y']))


def goal_table(dataset: str, timemae_dir: Path, baseline_dir: Path, fractions=('0.01', '0.05'),
               seeds=(0, 1, 2), readout: str = 'mean') -> str:
    "A Markdown table: every TimeMAE row against every baseline at each fraction, and whether it clears the margin."
    lines = ['| labels | TimeMAE row | baseline | TimeMAE % | baseline % | difference | 2 x larger std | per seed | '
             'paired: mean ± s.e. (t) | met |', '|---|---|---|---|---|---|---|---|---|---|']
    for c in comparisons(dataset, timemae_dir, baseline_dir, fractions, seeds, readout):
        x, y = c['x'], c['y']
        diff, bar = margin(c)
        per_seed = ', '.join(f'{a - b:+.2f}' for a, b in zip(x, y))
        cell = lambda v: f'{statistics.mean(v):.2f} ± {statistics.pstdev(v):.2f}'
        lines.append(f"| {float(c['fraction']):.0%} | {c['name']} | {c['base']} | {cell(x)} | {cell(y)} | {diff:+.2f} | "
                     f'{bar:.2f} | {per_seed} | {paired([a - b for a, b in zip(x, y)])} | '
                     + ('n/a |' if min(len(x), len(y)) < 2 else f'{"yes" if diff > bar else "no"} |'))  # one seed: no spread
    return '\n'.join(lines)


GOAL_ROWS = ('timemae_finelast', 'timemae_fineall')  # the goal's rows: FineLast or FineAll (not the linear evaluation)


def goal_verdict(comps: list[dict], readout: str = 'mean') -> str:
    """The goal at each fraction: met when FineLast or FineAll clears every baseline of the goal (from-scratch TimeMAE
    with the paper's head, InceptionTimePlus), under ddof 0 (the table's) and under the sample std (ddof 1, a bar
    about 1.22 times higher with 3 seeds); then the pairs whose verdict the choice of std changes."""
    goal_bases = BASELINES
    lines, flips = [], []
    for f in dict.fromkeys(c['fraction'] for c in comps):
        verdicts = []
        if any(len(c['x']) < 2 or len(c['y']) < 2 for c in comps if c['fraction'] == f):
            lines.append(f'- {float(f):.0%} of the labels: n/a (one seed: no spread over seeds to clear)')
            continue
        for std, label in ((statistics.pstdev, 'ddof 0'), (statistics.stdev, 'ddof 1')):
            met = [n for n in dict.fromkeys(c['name'] for c in comps if c['fraction'] == f)
                   if n.startswith(GOAL_ROWS) and all(margin(c, std)[0] > margin(c, std)[1] for c in comps
                                                       if c['fraction'] == f and c['name'] == n and c['base'] in goal_bases)]
            verdicts.append(f"{label}: {'met by ' + ', '.join(met) if met else 'not met'}")
        lines.append(f'- {float(f):.0%} of the labels: ' + '; '.join(verdicts))
        for c in comps:
            if c['fraction'] != f or len(c['x']) < 2: continue
            (d0, b0), (_, b1) = margin(c), margin(c, statistics.stdev)
            if (d0 > b0) != (d0 > b1): flips.append(f"{float(f):.0%} {c['name']} against {c['base']} ({d0:+.2f}: bar {b0:.2f} "
                                                    f'with ddof 0, {b1:.2f} with ddof 1)')
    head = ("Goal (FineLast or FineAll beats from-scratch TimeMAE and InceptionTimePlus by more than twice the larger "
            'standard deviation over seeds):')
    tail = ['', 'Pairs whose verdict depends on the standard deviation\'s ddof: ' + ('; '.join(flips) if flips else 'none'),
            '', 'Within a run no decision reads more labels than its fraction; the settings the rows share were partly '
            'chosen with every label (BENCHMARKS.md, "Label efficiency", the protocol), so a margin may favour TimeMAE.']
    return '\n'.join([head, *lines, *tail])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('dataset')
    p.add_argument('--timemae-dir', type=Path, default=HERE / 'results', help='folder of the TimeMAE result files')
    p.add_argument('--baseline-dir', type=Path, default=HERE / 'results', help='folder of the baselines\' result files')
    p.add_argument('--fractions', nargs='+', default=['0.01', '0.05'])
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--readout', choices=tuple(ROWS), default='mean', help="the TimeMAE rows' read-out (bench `--readout`)")
    a = p.parse_args(argv)
    try:
        fractions = list(dict.fromkeys(map(fraction_name, a.fractions)))
        comps = comparisons(a.dataset, a.timemae_dir, a.baseline_dir, fractions, tuple(dict.fromkeys(a.seeds)), a.readout)
        table, verdict = goal_table(a.dataset, a.timemae_dir, a.baseline_dir, fractions, tuple(dict.fromkeys(a.seeds)),
                                    a.readout), goal_verdict(comps, a.readout)
    except (ValueError, FileNotFoundError) as e: p.error(str(e))
    print(table)
    print()
    print(verdict)


if __name__ == '__main__':
    main()
