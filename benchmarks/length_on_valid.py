"""Pretraining length chosen on validation labels: 40 against 100 epochs of `TimeMAEPretrain()`'s defaults.

Reads the result files of the full-label protocol (no training, no test split): for FineLast and FineAll, the
validation accuracy at the epoch the protocol selected (`valid_at_best`, lowest validation loss), per seed. The
100-epoch runs are the main table's (`benchmarks/results/`; Epilepsy's as they were before session 50's re-run,
`benchmarks/extra/epilepsy_kmeans_before_fix/`), the 40-epoch ones `benchmarks/extra/kmeans_40ep/`.
This is the evidence behind `default_pretrain_epochs` (100 epochs on HAR and Epilepsy since session 13).

    python benchmarks/length_on_valid.py
"""
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = {40: HERE / 'extra' / 'kmeans_40ep' / 'results', 100: HERE / 'results'}
# Epilepsy's 100-epoch rows were re-run in session 50 with the frozen tokenizers' padding fix (other k-means codes);
# the choice rested on the rows before it, archived here, which share the 40-epoch runs' codes.
RUNS_100_BEFORE_FIX = {'Epilepsy': HERE / 'extra' / 'epilepsy_kmeans_before_fix' / 'results'}


def valid_accuracies(epochs: int, dataset: str, method: str, seeds=(0, 1, 2)) -> list:
    "Validation accuracy (%) at the selected epoch, one per seed, of the runs pretrained for `epochs` epochs."
    out = []
    for s in seeds:
        folder = RUNS_100_BEFORE_FIX.get(dataset, RUNS[epochs]) if epochs == 100 else RUNS[epochs]
        path = folder / dataset / f'{method}_kmeans_seed{s}.json'
        run = json.loads(path.read_text())
        if run['settings']['pretraining']['epochs'] != epochs:
            raise ValueError(f'{path} was pretrained for {run["settings"]["pretraining"]["epochs"]} epochs, not {epochs}')
        out.append(100 * run['valid_at_best']['accuracy'])
    return out


def table() -> str:
    lines = ['| data set | method | 40 epochs (seeds) | 100 epochs (seeds) | 100 - 40 |', '|---|---|---|---|---|']
    for ds in ('HAR', 'Epilepsy'):
        for method in ('timemae_finelast', 'timemae_fineall'):
            a, b = (valid_accuracies(e, ds, method) for e in (40, 100))
            cell = lambda v: f"{statistics.mean(v):.2f} ({', '.join(f'{x:.2f}' for x in v)})"
            lines.append(f'| {ds} | {method} | {cell(a)} | {cell(b)} | {statistics.mean(b) - statistics.mean(a):+.2f} |')
    return '\n'.join(lines)


if __name__ == '__main__':
    print(table())
