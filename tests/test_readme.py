"""The workflow README.md shows runs as written (with one epoch per fit, to keep the suite fast)."""
import re
from pathlib import Path

import fastai.callback.schedule  # noqa: F401  (adds Learner.fit_one_cycle)
from fastai.learner import Learner

README = Path(__file__).resolve().parents[1] / 'README.md'


def _python_blocks():
    return re.findall(r'```python\n(.*?)```', README.read_text(), flags=re.S)


def test_readme_workflow_runs(tmp_path, monkeypatch):
    blocks = _python_blocks()
    assert blocks, 'README.md has no python example'
    one_cycle = Learner.fit_one_cycle
    monkeypatch.setattr(Learner, 'fit_one_cycle', lambda self, n_epoch, *a, **k: one_cycle(self, 1, *a, **k))
    monkeypatch.chdir(tmp_path)
    ns = {}
    exec(compile(blocks[0], 'README.md', 'exec'), ns)
    assert (tmp_path / 'models' / 'timemae_encoder.pth').is_file()
    probas, _, preds = ns['probas'], None, ns['preds']
    assert probas.shape[1] == 4 and len(preds) == len(ns['splits'][1])


def test_readme_few_labels_transfer_and_plots_example_runs(tmp_path, monkeypatch):
    "The 'Few labels, another data set' block runs after the first one, as a reader would run them."
    import matplotlib
    matplotlib.use('Agg')
    blocks = _python_blocks()
    [mine] = [b for b in blocks if "reinit='patch_embed'" in b]
    one_cycle = Learner.fit_one_cycle
    monkeypatch.setattr(Learner, 'fit_one_cycle', lambda self, n_epoch, *a, **k: one_cycle(self, 1, *a, **k))
    monkeypatch.chdir(tmp_path)
    ns = {}
    exec(compile(blocks[0], 'README.md', 'exec'), ns)
    exec(compile(mine, 'README.md', 'exec'), ns)
    assert len(ns['few']) == 12 and ns['moved'].reinitialised == ['patch_embed.proj.weight', 'patch_embed.proj.bias']
    assert ns['ax'].tsne_points.shape == (16, 2) and len(ns['axs']) == 2


def test_readme_resume_example_runs_and_resumes(tmp_path, monkeypatch, capsys):
    "The 'Resuming' block after the first one: run once (it writes the state), run again (it resumes, nothing left)."
    [mine] = [b for b in _python_blocks() if 'resume=True' in b]
    one_cycle = Learner.fit_one_cycle
    monkeypatch.setattr(Learner, 'fit_one_cycle', lambda self, n_epoch, *a, **k: one_cycle(self, 1, *a, **k))
    monkeypatch.chdir(tmp_path)
    ns = {}
    exec(compile(_python_blocks()[0], 'README.md', 'exec'), ns)
    exec(compile(mine, 'README.md', 'exec'), ns)
    assert (tmp_path / 'models' / 'timemae_encoder_state.pth').is_file()
    capsys.readouterr()
    exec(compile(mine, 'README.md', 'exec'), ns)
    # the whole path: which folder was read (a relative one hid it when a script ran from another folder)
    assert f"Resuming pretraining from {tmp_path / 'models' / 'timemae_encoder_state.pth'}: 1 of 1 epochs done" in capsys.readouterr().out


def test_readme_sktime_and_distributed_examples_run(tmp_path, monkeypatch, capsys):
    "The scikit-learn/sktime block and the data-parallel block (in one process, where the context does nothing) run too."
    blocks = _python_blocks()
    [sk] = [b for b in blocks if 'TimeMAEClassifier(' in b and 'make_pipeline' in b and 'GridSearchCV' not in b]
    [search] = [b for b in blocks if 'GridSearchCV(TimeMAEClassifier(weights_path=' in b]
    [ddp] = [b for b in blocks if 'timemae_distrib_ctx(learn)' in b]
    one_cycle = Learner.fit_one_cycle
    monkeypatch.setattr(Learner, 'fit_one_cycle', lambda self, n_epoch, *a, **k: one_cycle(self, 1, *a, **k))
    monkeypatch.chdir(tmp_path)
    ns = {}
    exec(compile(sk, 'README.md', 'exec'), ns)
    out = capsys.readouterr().out
    assert 'accuracy:' in out and 'linear probe accuracy:' in out and ns['probas'].shape == (40, 4)
    # pretrain once, then search with the file: no pretraining inside the searches
    import tsai_timemae.sktime as sk_module
    pretrain, calls = sk_module._pretrain, []
    monkeypatch.setattr(sk_module, '_pretrain', lambda *a, **k: calls.append(1) or pretrain(*a, **k))
    exec(compile(search, 'README.md', 'exec'), ns)
    assert len(calls) == 1 and (tmp_path / 'enc.pth').is_file()
    assert ns['search'].best_params_['mode'] in ('fineall', 'finelast') and 'timemaetransformer__layer' in ns['probe'].best_params_
    ns = {}
    exec(compile(ddp, 'README.md', 'exec'), ns)
    assert (tmp_path / 'models' / 'timemae_encoder.pth').is_file()
