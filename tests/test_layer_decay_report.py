"""`benchmarks/layer_decay.py`'s report: the layer-decay row beside FineAll rerun on the same encoders and the
committed rows of the same seeds, whether the rerun reproduced the committed FineAll, issue 15's margins and the
paired difference."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
from layer_decay import FINEALL, LLRD, report  # noqa: E402

COMMITTED = {'timemae_finelast_kmeans': (.80, .82, .84), 'timemae_fineall_kmeans': (.85, .86, .87),
             'timemae_scratch': (.80, .81, .82), 'inceptiontimeplus': (.84, .85, .86)}


def _setup(tmp_path, llrd=(.90, .91, .92), fineall=(.85, .86, .88), seeds=(0, 1, 2)):
    res = tmp_path / 'results' / 'Epilepsy'
    res.mkdir(parents=True)
    for name, accs in COMMITTED.items():
        for s, a in enumerate(accs):
            (res / f'{name}_labels0.05_seed{s}.json').write_text(json.dumps({'metrics': {'accuracy': a}}))
    rows = [{'dataset': 'Epilepsy', 'seed': s, 'label_fraction': 0.05, 'n_labelled': 368, 'row': row, 'accuracy': acc[s]}
            for s in seeds for row, acc in ((LLRD, llrd), (FINEALL, fineall))]
    rows.append({**rows[0], 'dataset': 'HAR', 'accuracy': .1})  # another data set's row is not mixed in
    out = tmp_path / 'layer_decay.jsonl'
    out.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    lpft = tmp_path / 'lpft.jsonl'  # lpft.py's FineAll rerun on the same encoders: seed 2 matches, seed 1 does not
    lpft.write_text(''.join(json.dumps({'dataset': 'Epilepsy', 'seed': s, 'label_fraction': 0.05, 'row': 'FineAll',
                                        'accuracy': a}) + '\n' for s, a in ((0, .85), (1, .87), (2, .88))))
    return out, tmp_path / 'results'


def _cells(text):
    line = next(l for l in text.splitlines() if l.startswith('| 0.05 (368)'))
    return [c.strip() for c in line.strip('|').split('|')]


def test_margins_the_rerun_check_and_the_paired_difference(tmp_path):
    out, results = _setup(tmp_path)
    text = report('Epilepsy', out, results, lpft=results.parent / 'lpft.jsonl')
    assert 'layer decay - inceptiontimeplus' in text.splitlines()[0]
    cells = _cells(text)
    assert cells[1] == '3' and cells[2] == '91.00 ± 0.82' and cells[3] == '86.33 ± 1.25'
    assert cells[5] == '86.00 ± 0.82'                        # committed FineAll
    assert cells[8] == '2 of 3'                              # seed 2's rerun (0.88) is not the committed 0.87
    assert cells[9] == '2 of 3'                              # lpft.py's rerun: seed 1's 0.87 is not 0.86
    assert cells[10] == '+10.00 / 1.63 (met)'                # from scratch: 91 - 81, bar 2 x 0.816
    assert cells[11] == '+6.00 / 1.63 (met)'                 # InceptionTimePlus: 91 - 85
    assert cells[12] == '+5.00, +5.00, +4.00 (+4.67)'
    assert _cells(report('Epilepsy', out, results, lpft=results.parent / 'none.jsonl'))[9] == '–'


def test_a_margin_inside_the_spread_is_not_met_and_a_loss_shows_negative(tmp_path):
    out, results = _setup(tmp_path, llrd=(.83, .86, .89))
    cells = _cells(report('Epilepsy', out, results, lpft=results.parent / 'lpft.jsonl'))
    assert cells[11] == '+1.00 / 4.90 (not met)'
    assert cells[12] == '-2.00, +0.00, +1.00 (-0.33)'


def test_only_seeds_with_both_rows_count(tmp_path):
    out, results = _setup(tmp_path)
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    out.write_text(''.join(json.dumps(r) + '\n' for r in rows if not (r['seed'] == 2 and r['row'] == FINEALL)))
    cells = _cells(report('Epilepsy', out, results, lpft=results.parent / 'lpft.jsonl'))
    assert cells[1] == '2' and cells[2] == '90.50 ± 0.50'
    # the committed rows and the margins over the same two seeds, not all three (scratch 80.50, not 81.00)
    assert cells[4:8] == ['81.00 ± 1.00', '85.50 ± 0.50', '80.50 ± 0.50', '84.50 ± 0.50']
    assert cells[10:] == ['+10.00 / 1.00 (met)', '+6.00 / 1.00 (met)', '+5.00, +5.00 (+5.00)']
