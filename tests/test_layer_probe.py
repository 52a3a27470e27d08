"""`benchmarks/layer_probe.py`'s report: a row per data set and settings (encoder depth and pretraining options are
never averaged together), the best block's ties go to the later block even when fold means differ in the last bit,
and a test-split file with one seed twice is refused rather than averaged."""
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'benchmarks'))
from layer_probe import later_best, report  # noqa: E402


def _row(seed, scores, pretrain=None, arch=None, encoder='pretrained'):
    return {'dataset': 'GunPoint', 'seed': seed, 'encoder': encoder, 'epochs': 100, 'protocol': 'cv5',
            'pretrain': pretrain or {}, 'window': 10, **({'arch': arch} if arch else {}), 'layer_scores': scores}


def _write(tmp_path, rows):
    p = tmp_path / 'probe.jsonl'
    p.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    return p


def test_ties_go_to_the_later_block_despite_float_noise():
    assert later_best([0.5, 0.73, 0.7299999999999999]) == 2
    assert later_best([0.5, 0.74, 0.73]) == 1


def test_rows_with_other_pretraining_settings_or_depth_are_not_averaged(tmp_path, capsys):
    rows = [_row(0, [0.1, 0.2, 0.3]), _row(1, [0.1, 0.2, 0.5]),
            _row(0, [0.1, 0.9, 0.9], pretrain={'n_decoder_layers': 8}),
            _row(0, [0.1, 0.6], arch={'n_layers': 1})]
    report(_write(tmp_path, rows))
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith('| GunPoint')]
    assert len(lines) == 3
    default = next(l for l in lines if '(cv5' in l.split('|')[1] and '=' not in l.split('|')[1])
    assert '| 0,1 |' in default and '**40.00**' in default  # the two default seeds: (30 + 50) / 2
    assert any('n_decoder_layers=8' in l and '| 0 |' in l for l in lines)
    assert any('n_layers=1' in l and '**60.00**' in l for l in lines)


def test_a_seed_twice_in_a_test_file_is_refused(tmp_path):
    r = {'dataset': 'GunPoint', 'seed': 3, 'encoder': 'pretrained', 'epochs': 100, 'protocol': 'cv5', 'split': 'test',
         'window': 9, 'chosen_layer': 2, 'test_at_chosen': 0.8, 'test_at_last': 0.7}
    with pytest.raises(ValueError, match='seed 3 .* twice'):
        report(_write(tmp_path, [r, dict(r, test_at_chosen=0.9)]))


def test_test_split_rows_of_another_depth_are_not_averaged(tmp_path, capsys):
    "A test-split file holding both depths (`--arch n_layers=4`, as benchmarks/depth_rule.py ran): one row per depth."
    r = {'dataset': 'GunPoint', 'seed': 3, 'encoder': 'pretrained', 'epochs': 100, 'protocol': 'cv5', 'split': 'test',
         'window': 9, 'chosen_layer': 2, 'test_at_chosen': 0.8, 'test_at_last': 0.7}
    report(_write(tmp_path, [r, dict(r, arch={'n_layers': 4}, test_at_last=0.9)]))   # the same seed, another depth
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith('| GunPoint')]
    assert any('(TimeMAE(n_layers=4))' in l and '90.00' in l for l in lines)
    assert any('(TimeMAE(' not in l and '70.00' in l for l in lines)


def test_paired_report_subtracts_the_default_encoder_of_the_same_seed(tmp_path, capsys):
    from layer_probe import report_paired
    rows = [_row(0, [0.1, 0.5, 0.4]), _row(1, [0.1, 0.3, 0.2]),
            _row(0, [0.1, 0.4, 0.45], pretrain={'n_decoder_layers': 1}),
            _row(1, [0.1, 0.3, 0.3], pretrain={'n_decoder_layers': 1}),
            _row(0, [0.1, 0.9, 0.9], encoder='untrained', pretrain={'n_decoder_layers': 1})]
    report_paired(_write(tmp_path, rows))
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith('| TimeMAEPretrain(n_decoder_layers=1)'))
    assert '| 0,1 |' in line and '+7.50 (+5.00, +10.00)' in line and line.endswith('| -2.50 |')


def test_paired_report_names_runs_without_a_default_and_refuses_a_seed_twice(tmp_path, capsys):
    from layer_probe import report_paired
    rows = [_row(0, [0.1, 0.5]), _row(0, [0.1, 0.6], pretrain={'target_layers': 2}),
            _row(5, [0.1, 0.6], pretrain={'target_layers': 2})]
    report_paired(_write(tmp_path, rows))
    out = capsys.readouterr().out
    assert 'Not in the table (no default run of the same data set, protocol, length and seed): ' \
           'TimeMAEPretrain(target_layers=2) GunPoint seed 5' in out
    with pytest.raises(ValueError, match=r'seed 0 \(pretrained, TimeMAEPretrain\(target_layers=2\)\) is in the file twice'):
        report_paired(_write(tmp_path, rows + [rows[1]]))


def test_an_option_of_both_the_model_and_the_pretraining_is_labelled_apart():
    from layer_probe import settings_label
    a, b = _row(0, [0.1], arch={'init_scheme': 'authors'}), _row(0, [0.1], pretrain={'init_scheme': 'authors'})
    assert settings_label(a) == 'TimeMAE(init_scheme=authors)' != settings_label(b) == 'TimeMAEPretrain(init_scheme=authors)'
    assert settings_label(_row(0, [0.1])) == ''


def test_blocks_mean_reads_the_blocks_not_the_embeddings():
    import numpy as np
    from layer_probe import blocks_mean
    feats = [np.full((2, 3), 100.), np.full((2, 3), 1.), np.full((2, 3), 3.)]  # embeddings, block 1, block 2
    assert np.allclose(blocks_mean(feats), 2.)


def test_readout_report_pairs_each_read_out_with_the_untrained_encoder_of_the_same_seed(tmp_path, capsys):
    from layer_probe import report_readout
    rows = [dict(_row(0, [0.1, 0.5, 0.6]), blocks_mean_score=0.7), dict(_row(1, [0.1, 0.5, 0.8]), blocks_mean_score=0.7),
            dict(_row(0, [0.1, 0.5, 0.5], encoder='untrained'), blocks_mean_score=0.6),
            dict(_row(1, [0.1, 0.5, 0.5], encoder='untrained'), blocks_mean_score=0.6),
            _row(2, [0.1, 0.5, 0.9]), _row(2, [0.1, 0.5, 0.5], encoder='untrained')]  # before session 57: left out
    report_readout(_write(tmp_path, rows))
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith('| GunPoint'))
    cells = [c.strip() for c in line.strip('|').split('|')]
    assert cells[1:] == ['0,1', '70.00', '70.00', '+0.00 (+10.00, -10.00)', '50.00', '60.00', '+20.00', '+10.00']
    assert ('Encoders reading higher under M than under L: 3 of 4; level: 0; lower: GunPoint pretrained '
            'seed 1 (-10.00)') in out


def test_readout_report_reads_a_test_split_file(tmp_path, capsys):
    from layer_probe import report_readout
    r = {'dataset': 'HAR', 'seed': 0, 'encoder': 'pretrained', 'epochs': 100, 'protocol': 'rec5', 'split': 'test',
         'window': 8, 'chosen_layer': 2, 'test_at_chosen': 0.92, 'test_at_last': 0.91, 'test_at_blocks_mean': 0.925}
    report_readout(_write(tmp_path, [r, dict(r, encoder='untrained', test_at_last=0.8, test_at_blocks_mean=0.85)]))
    out = capsys.readouterr().out
    assert out.startswith('Test split')
    assert '| HAR (rec5, 100) | 0 | 91.00 | 92.50 | +1.50 (+1.50) | 80.00 | 85.00 | +11.00 | +7.50 |' in out
