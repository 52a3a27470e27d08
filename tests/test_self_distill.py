"""`benchmarks/self_distill.py`: the student's targets, its loss, and the report that compares it with its teacher."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
from self_distill import distillation_targets, report, soft_cross_entropy, student_dls  # noqa: E402


def test_labelled_series_get_their_own_label_and_the_rest_the_teachers_probabilities():
    probs = np.array([[.7, .2, .1], [.1, .8, .1], [.3, .3, .4], [.5, .25, .25]], dtype=np.float32)
    kept = probs.copy()
    t = distillation_targets(probs, labelled_idx=[1, 3], labels=[2, 0])
    np.testing.assert_array_equal(t[[1, 3]], [[0, 0, 1], [1, 0, 0]])  # a teacher that disagrees is overruled
    np.testing.assert_array_equal(t[[0, 2]], probs[[0, 2]])
    np.testing.assert_array_equal(probs, kept)  # the teacher's output is not modified
    np.testing.assert_allclose(t.sum(1), 1, rtol=1e-6)


def test_soft_cross_entropy_is_cross_entropy_for_one_hot_targets_and_smallest_at_the_target():
    torch.manual_seed(0)
    logits = torch.randn(5, 4)
    y = torch.tensor([0, 3, 1, 2, 3])
    assert torch.allclose(soft_cross_entropy(logits, torch.nn.functional.one_hot(y, 4).float()),
                          torch.nn.functional.cross_entropy(logits, y))
    target = torch.softmax(torch.randn(5, 4), 1)
    assert soft_cross_entropy(target.log(), target) < soft_cross_entropy(logits, target)
    # a soft target is used as it is, not through its argmax: the cross-entropy against the whole distribution
    want = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    assert torch.allclose(soft_cross_entropy(logits, target), want)


def test_student_loaders_map_labels_through_the_vocabulary_and_scale_inputs_as_the_labelled_loaders():
    rng = np.random.default_rng(0)
    X_train, X_valid = rng.normal(3, 2, (6, 2, 8)).astype(np.float32), rng.normal(3, 2, (4, 2, 8)).astype(np.float32)
    pool = np.concatenate([X_train, X_valid])
    probs = rng.dirichlet(np.ones(3), len(pool)).astype(np.float32)
    idx, labels, vocab = np.array([4, 1]), np.array(['c', 'a']), ['a', 'b', 'c']  # labels not in vocabulary order
    dls, agree = student_dls(pool, probs, idx, labels, vocab, X_train, bs=len(pool))
    x, y = dls.train.one_batch()
    X, Y = dls.train.dataset[list(range(len(pool)))]  # the pool in its own order
    Y = np.asarray(Y)
    np.testing.assert_array_equal(Y[4], [0, 0, 1])
    np.testing.assert_array_equal(Y[1], [1, 0, 0])
    np.testing.assert_allclose(Y[[0, 2, 3, 5, 6, 7, 8, 9]], probs[[0, 2, 3, 5, 6, 7, 8, 9]])  # targets are not scaled
    assert agree == np.mean(probs[[4, 1]].argmax(1) == [2, 0])
    # a batch is scaled with the training inputs' statistics, as the labelled loaders and the test series are
    mean, std = X_train.mean((0, 2), keepdims=True), X_train.std((0, 2), keepdims=True)
    np.testing.assert_allclose(np.asarray(dls.train.after_batch(X).cpu()), (pool - mean) / std, rtol=1e-4, atol=1e-4)
    assert x.shape == (len(pool), 2, 8) and y.shape == (len(pool), 3)


def _write(tmp_path, rows, committed):
    res = tmp_path / 'results' / 'HAR'
    res.mkdir(parents=True)
    for name, accs in committed.items():
        for s, a in enumerate(accs):
            (res / f'{name}_labels0.01_seed{s}.json').write_text(json.dumps({'metrics': {'accuracy': a}}))
    out = tmp_path / 'sd.jsonl'
    out.write_text(''.join(json.dumps({'dataset': 'HAR', 'seed': s, 'label_fraction': 0.01, 'n_labelled': 58,
                                       'row': row, 'accuracy': a}) + '\n'
                           for row, accs in rows.items() for s, a in enumerate(accs)))
    return out, tmp_path / 'results'


def _lpft(tmp_path, accs):
    "lpft.py's FineAll rerun on the same encoders: the FineAll teacher's reference."
    path = tmp_path / 'lpft.jsonl'
    path.write_text(''.join(json.dumps({'dataset': 'HAR', 'seed': s, 'label_fraction': 0.01, 'row': 'FineAll',
                                        'accuracy': a}) + '\n' for s, a in enumerate(accs)))
    return path


def _line(text, row): return [c.strip() for c in next(l for l in text.splitlines() if l.startswith(f'| {row} |')).strip('|').split('|')]


def test_report_pairs_each_student_with_its_teacher_and_checks_the_teacher_against_the_committed_row(tmp_path):
    rows = {'FineAll (teacher)': (.85, .86, .87), 'FineAll, self-distilled': (.90, .91, .92),
            'InceptionTimePlus (teacher)': (.84, .85, .86), 'InceptionTimePlus, self-distilled': (.84, .87, .86)}
    committed = {'timemae_fineall_kmeans': (.85, .86, .88), 'inceptiontimeplus': (.84, .85, .86),
                 'timemae_scratch': (.80, .81, .82)}
    out, results = _write(tmp_path, rows, committed)
    text = report('HAR', out, results, lpft=_lpft(tmp_path, (.85, .86, .87)))
    assert '1% of the labels (58 series)' in text
    assert _line(text, 'FineAll (teacher)')[1:4] == ['3', '86.00 ± 0.82', '86.33 ± 1.25']
    # FineAll against lpft.py's rerun on the same encoders (not the committed row, whose seed 2 differs)
    assert _line(text, 'FineAll (teacher)')[4] == "3 of 3 (lpft.py's FineAll)"
    assert _line(text, 'InceptionTimePlus (teacher)')[4] == '3 of 3 (the committed row)'
    assert _line(text, 'FineAll, self-distilled')[5] == '+5.00, +5.00, +5.00'
    assert _line(text, 'InceptionTimePlus, self-distilled')[5] == '+0.00, +2.00, +0.00'
    assert '- Gain from the step, FineAll: +5.00 on average over 3 seeds.' in text
    assert '- Gain from the step, InceptionTimePlus: +0.67 on average over 3 seeds.' in text
    # issue 15's margin: 91.00 - 85.00 = +6.00 against twice the larger std (0.82 -> 1.63): met
    assert 'FineAll, self-distilled - inceptiontimeplus (committed): +6.00, bar 1.63: met (3 seeds)' in text
    assert 'FineAll, self-distilled - timemae_scratch (committed): +10.00, bar 1.63: met (3 seeds)' in text
    # and against the control given the same step: 91.00 - 85.67 = +5.33, bar 2 x 1.25
    assert 'FineAll, self-distilled - InceptionTimePlus, self-distilled: +5.33, bar 2.49: met (3 seeds)' in text


def test_report_without_students_shows_the_teachers_and_no_margin(tmp_path):
    out, results = _write(tmp_path, {'FineAll (teacher)': (.85, .86, .87)}, {'timemae_fineall_kmeans': (.85, .86, .87)})
    text = report('HAR', out, results, lpft=tmp_path / 'none.jsonl')
    assert _line(text, 'FineAll (teacher)')[3:5] == ['86.00 ± 0.82', '–']  # no rerun to check it against
    assert 'self-distilled' not in text and 'Gain' not in text


def test_a_missing_encoder_stops_the_run_before_it_makes_a_temporary_folder(tmp_path, monkeypatch):
    "The encoder was checked after the folder was made, so every such exit left an empty folder behind."
    import tempfile
    from types import SimpleNamespace
    import self_distill
    from tsai_timemae import bench
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path / 'tmp'))
    (tmp_path / 'tmp').mkdir()
    monkeypatch.setattr(bench, 'fixed_label_subset', lambda *a, **k: np.arange(6))  # no data set read
    monkeypatch.setattr(self_distill, 'unlabelled_pool', lambda *a, **k: np.zeros((10, 9, 128), np.float32))
    ds = SimpleNamespace(name='HAR', source='shared')
    with pytest.raises(SystemExit, match='No finished encoder at'):
        self_distill.run_seed(ds, 'HAR', 0, 0.01, ['fineall'], tmp_path / 'no_cache', set(), tmp_path / 'out.jsonl')
    assert list((tmp_path / 'tmp').iterdir()) == []
    assert not (tmp_path / 'out.jsonl').exists()
