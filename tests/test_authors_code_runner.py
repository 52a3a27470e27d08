"""`benchmarks/run_authors_code.py` runs someone else's checkout: it must say plainly what it needs when that checkout or
the data is missing (it never downloads), and its table must count the unseeded reference run with the new ones."""
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'benchmarks'))
import run_authors_code  # noqa: E402


def test_a_missing_checkout_or_data_folder_is_named_with_the_fix(tmp_path, capsys, monkeypatch):
    with pytest.raises(SystemExit):
        run_authors_code.main(['--repo', str(tmp_path)])
    assert 'Mingyue-Cheng/TimeMAE' in capsys.readouterr().err
    (tmp_path / 'process.py').write_text('')
    monkeypatch.delenv('TIMEMAE_DATA', raising=False)
    with pytest.raises(SystemExit):
        run_authors_code.main(['--repo', str(tmp_path), '--data', str(tmp_path / 'nowhere')])
    assert 'has no train.pt' in capsys.readouterr().err


def test_the_report_averages_the_runs_with_files_and_cites_the_reference_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(run_authors_code, 'OUT', tmp_path)
    assert 'no runs' in run_authors_code.report()
    for seed, acc in ((1, 90.45), (2, 91.45)):
        probes = [{'epoch': e, 'test_acc': acc / 100} for e in range(5, 101, 5)]
        (tmp_path / f'HAR_seed{seed}.json').write_text(json.dumps({'seed': seed, 'test_acc_final': acc, 'probes': probes,
                                                                  'epochs_run': 100}))
    (tmp_path / 'HAR_seed3_5ep.json').write_text(json.dumps({'seed': 3, 'test_acc_final': 60., 'probes': probes[:1],
                                                            'epochs_run': 5}))                # a smoke run: left out
    (tmp_path / 'HAR_seed1_0ep.json').write_text(json.dumps({'seed': 1, 'test_acc_final': 66.0, 'epochs_run': 0}))
    table = run_authors_code.report()
    assert '| seed 1 | 66.00 | 90.45 |' in table and '| seed 2 | – | 91.45 |' in table    # untrained beside
    assert 'The 2 seeded runs above: **90.95 ± 0.50**' in table      # 90.45 and 91.45: the cited run has no file here
    assert 'is not in this mean' in table and 'no file here' in table


def test_their_linear_result_file_is_read_line_by_line(tmp_path):
    (tmp_path / 'linear_result.txt').write_text('epoch4, acc0.6182558534102477\nepoch9, acc0.6996946046827281\n')
    assert run_authors_code.read_probes(tmp_path) == [{'epoch': 5, 'test_acc': 0.6182558534102477},
                                                      {'epoch': 10, 'test_acc': 0.6996946046827281}]
    (tmp_path / 'linear_result.txt').write_text('')
    with pytest.raises(ValueError, match='no line like'):
        run_authors_code.read_probes(tmp_path)


def test_collect_records_a_finished_run_and_refuses_an_unfinished_one(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run_authors_code, 'OUT', tmp_path / 'out')
    (tmp_path / 'process.py').write_text('')
    (tmp_path / 'linear_result.txt').write_text('epoch4, acc0.61\nepoch9, acc0.70\n')
    with pytest.raises(SystemExit):                               # stopped at epoch 10 of 100
        run_authors_code.main(['--repo', str(tmp_path), '--collect', str(tmp_path), '--seeds', '7'])
    assert 'ends at epoch 10, not 100' in capsys.readouterr().err and not (tmp_path / 'out').exists()
    run_authors_code.main(['--repo', str(tmp_path), '--collect', str(tmp_path), '--seeds', '7', '--epochs', '10'])
    rec = json.loads((tmp_path / 'out' / 'HAR_seed7_10ep.json').read_text())
    assert rec['test_acc_final'] == pytest.approx(70.0) and rec['epochs_run'] == 10 and rec['seed'] == 7
