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

HERE = Path(__file__).resolve().parent
TIMEMAE = ('timemae_finelast_kmeans', 'timemae_fineall_kmeans', 'timemae_linear_kmeans')
BASELINES = ('timemae_scratch', 'inceptiontimeplus')
# per read-out: the TimeMAE rows and the baselines they are held against
ROWS = {'mean': (TIMEMAE, BASELINES),
        'flatten': (tuple(f'{n}_flatten' for n in TIMEMAE), ('timemae_scratch', 'timemae_scratch_flatten', 'inceptiontimeplus'))}


def runs(root: Path, dataset: str, name: str, fraction: str, seeds) -> list:
    "The result records of one row: `<root>/<dataset>/<name>_labels<fraction>_seed<k>.json`, one per seed."
    return [json.loads((root / dataset / f'{name}_labels{fraction}_seed{s}.json').read_text()) for s in seeds]


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


def goal_table(dataset: str, timemae_dir: Path, baseline_dir: Path, fractions=('0.01', '0.05'),
               seeds=(0, 1, 2), readout: str = 'mean') -> str:
    "A Markdown table: every TimeMAE row against every baseline at each fraction, and whether it clears the margin."
    timemae_rows, baselines = ROWS[readout]
    lines = ['| labels | TimeMAE row | baseline | TimeMAE % | baseline % | difference | 2 x larger std | per seed | '
             'paired: mean ± s.e. (t) | met |', '|---|---|---|---|---|---|---|---|---|---|']
    for f in fractions:
        for name in timemae_rows:
            mine = runs(timemae_dir, dataset, name, f, seeds)
            for base in baselines:
                # the from-scratch twin with the ordered head sits beside the TimeMAE rows, not among the baselines
                other = runs(timemae_dir if base.endswith('_flatten') else baseline_dir, dataset, base, f, seeds)
                for a, b in zip(mine, other):
                    check_comparable(a, b, f'{name} and {base} at {f}, seed {a["seed"]}')
                x = [100 * r['metrics']['accuracy'] for r in mine]
                y = [100 * r['metrics']['accuracy'] for r in other]
                diff, bar = statistics.mean(x) - statistics.mean(y), 2 * max(statistics.pstdev(x), statistics.pstdev(y))
                per_seed = ', '.join(f'{a - b:+.2f}' for a, b in zip(x, y))
                cell = lambda v: f'{statistics.mean(v):.2f} ± {statistics.pstdev(v):.2f}'
                lines.append(f'| {float(f):.0%} | {name} | {base} | {cell(x)} | {cell(y)} | {diff:+.2f} | {bar:.2f} | '
                             f'{per_seed} | {paired([a - b for a, b in zip(x, y)])} | {"yes" if diff > bar else "no"} |')
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('dataset')
    p.add_argument('--timemae-dir', type=Path, default=HERE / 'results', help='folder of the TimeMAE result files')
    p.add_argument('--baseline-dir', type=Path, default=HERE / 'results', help='folder of the baselines\' result files')
    p.add_argument('--fractions', nargs='+', default=['0.01', '0.05'])
    p.add_argument('--readout', choices=tuple(ROWS), default='mean', help="the TimeMAE rows' read-out (bench `--readout`)")
    a = p.parse_args(argv)
    print(goal_table(a.dataset, a.timemae_dir, a.baseline_dir, tuple(a.fractions), readout=a.readout))


if __name__ == '__main__':
    main()
