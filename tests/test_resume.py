"""Resuming an interrupted pretraining: a process killed with SIGKILL mid-run, resumed with the same call and
`resume=True`, ends with the same encoder as an uninterrupted run of the same seed; what the kill left is cleaned up."""
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tsai_timemae.all import read_encoder_weights

WORKER = Path(__file__).with_name('resume_worker.py')


def _run(out, *extra):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}
    return subprocess.run([sys.executable, str(WORKER), str(out), *extra], env=env, capture_output=True, text=True, timeout=600)


def test_a_killed_pretraining_resumes_to_the_same_encoder(tmp_path):
    whole, broken = tmp_path / 'whole', tmp_path / 'broken'
    r = _run(whole)
    assert r.returncode == 0, r.stderr[-2000:]
    r = _run(broken, '--kill-after', '2')
    assert r.returncode == -signal.SIGKILL, r.stderr[-2000:]                 # it really died mid-run
    assert list(broken.glob('.*.tmp'))                                       # leaving a half-written file
    state = torch.load(broken / 'timemae_encoder_state.pth', weights_only=False)
    assert state['epoch'] == 2 and len(state['history']) == 3
    r = _run(broken, '--resume')
    assert r.returncode == 0, r.stderr[-2000:]
    a, b = read_encoder_weights(whole / 'timemae_encoder.pth'), read_encoder_weights(broken / 'timemae_encoder.pth')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), 'resumed encoder differs'
    from tsai_timemae.weights import read_input_stats  # the first epoch's inputs, kept by the state: not remeasured
    assert read_input_stats(whole / 'timemae_encoder.pth') == read_input_stats(broken / 'timemae_encoder.pth') is not None
    sa = torch.load(whole / 'timemae_encoder_state.pth', weights_only=False)
    sb = torch.load(broken / 'timemae_encoder_state.pth', weights_only=False)
    assert all(torch.equal(v, sb['model'][k]) for k, v in sa['model'].items())   # momentum target, tokenizer too
    assert [h['epoch'] for h in sb['history']] == list(range(6))
    assert [round(h['train_loss'], 5) for h in sa['history']] == [round(h['train_loss'], 5) for h in sb['history']]
    assert not list(broken.glob('.*.tmp'))                                   # the killed write's leftover is gone
    for f in broken.iterdir(): assert stat.S_IMODE(f.stat().st_mode) & 0o044 == 0o044, oct(f.stat().st_mode)  # readable, not 0600


def test_resuming_with_other_settings_is_a_clear_error(udls, basic_motions, splits, tmp_path):
    import pytest
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    with pytest.raises(ValueError, match='resume=True continues from the state file that save_every'):
        TimeMAEPretrain(resume=True)
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, verbose=False), **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert (tmp_path / 'timemae_encoder_state.pth').is_file()
    again = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=True, verbose=False), **SMALL)
    with pytest.raises(ValueError, match=r'other settings \(n_epoch: 1 there, 3 now\)\. .*same model, TimeMAEPretrain settings, number of epochs, learning rate'):
        with again.no_bar(), again.no_logging(): again.fit(3, 1e-3)
    with pytest.raises(ValueError, match=r'other settings \(schedule'):   # the learning rate: it was silently taken
        with again.no_bar(), again.no_logging(): again.fit(1, 1e-1)
    with pytest.raises(ValueError, match=r'other settings \(schedule'):   # one-cycle instead of a constant rate
        with again.no_bar(), again.no_logging(): again.fit_one_cycle(1, 1e-3)
    from tsai.all import get_ts_dls
    from conftest import standardize_by_channel  # udls' transform, with its settings: only the batch size differs
    other_dls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[standardize_by_channel()], bs=udls.bs + 1)
    other_bs = ts_learner(other_dls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=True, verbose=False), **SMALL)
    with pytest.raises(ValueError, match=r"other settings \(data.bs: 10 there, 11 now\)"):
        with other_bs.no_bar(), other_bs.no_logging(): other_bs.fit(1, 1e-3)
    for other in (dict(beta=0.), dict(momentum=0.9), dict(mrr_loss='cosine')):  # the loss and the momentum count too
        again = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=True, verbose=False, **other), **SMALL)
        with pytest.raises(ValueError, match=r'other settings \(pretrain'):
            with again.no_bar(), again.no_logging(): again.fit(1, 1e-3)
    # a finished run resumes to itself: nothing to do (beta=1 and alpha=np.float64(1) are the run's 1.0: refused as
    # 'other settings' before)
    done = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=True, verbose=False,
                                                         alpha=np.float64(1), beta=1), **SMALL)
    with done.no_bar(), done.no_logging(): done.fit(1, 1e-3)
    assert len(done.cbs.filter(lambda c: isinstance(c, TimeMAEPretrain))[0].history) == 1
    before = {k: v.clone() for k, v in done.model.state_dict().items()}
    with done.no_bar(), done.no_logging(): done.fit(2, 1e-3)          # "2 more epochs" in the same process: they train
    assert len(done.cbs.filter(lambda c: isinstance(c, TimeMAEPretrain))[0].history) == 3
    assert any(not torch.equal(v, done.model.state_dict()[k]) for k, v in before.items()), 'the further fit did not train'
    state = torch.load(tmp_path / 'timemae_encoder_state.pth', weights_only=False)
    assert state['epoch'] == 1 and state['settings']['n_epoch'] == 2   # the file now holds the further fit


def test_other_series_of_the_same_count_and_shape_do_not_resume_the_other_runs_model(basic_motions, splits, tmp_path):
    """A state file left by a run on other series (here the same series reversed in time: same count, shape and batch
    size) is refused by name, not resumed: the new data would never be trained on."""
    import shutil
    import pytest
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    X = basic_motions[0]
    make = lambda X, d, **kw: ts_learner(get_ts_dls(X, splits=splits, batch_tfms=[TSStandardize(by_var=True)], bs=10),
                                         TimeMAE, cbs=TimeMAEPretrain(target_dir=d, save_every=1, verbose=False, **kw), **SMALL)
    first = make(X, tmp_path / 'a')
    with first.no_bar(), first.no_logging(): first.fit(1, 1e-3)
    other = make(np.ascontiguousarray(X[..., ::-1]), tmp_path / 'a', resume=True)
    with pytest.raises(ValueError, match=r"other settings \(data.fingerprint: '[0-9a-f]+' there, '[0-9a-f]+' now.*the same series"):
        with other.no_bar(), other.no_logging(): other.fit(1, 1e-3)
    Xv = X.copy()
    Xv[splits[1]] = Xv[splits[1], :, ::-1]                           # the same training series, other validation ones:
    other = make(Xv, tmp_path / 'a', resume=True)                    # their losses would join the first run's history
    with pytest.raises(ValueError, match=r"other settings \(data.valid_fingerprint: '[0-9a-f]+' there, '[0-9a-f]+' now\)"):
        with other.no_bar(), other.no_logging(): other.fit(1, 1e-3)
    state = torch.load(tmp_path / 'a' / 'timemae_encoder_state.pth', weights_only=False)
    del state['settings']['data']['valid_fingerprint']               # a file written before the validation series counted
    del state['settings']['opt'], state['settings']['tfms']           # ... and before the optimizer and transforms did
    torch.save(state, tmp_path / 'a' / 'timemae_encoder_state.pth')
    old = make(X, tmp_path / 'a', resume=True)
    with old.no_bar(), old.no_logging(): old.fit(1, 1e-3)            # resumes (finished: to itself)
    assert len(old.cbs.filter(lambda c: isinstance(c, TimeMAEPretrain))[0].history) == 1
    shutil.copytree(tmp_path / 'a', tmp_path / 'b')                   # the same run, in a copied folder
    again = make(X, tmp_path / 'b', resume=True)
    with again.no_bar(), again.no_logging(): again.fit(1, 1e-3)      # finished: resumes to itself
    cb = again.cbs.filter(lambda c: isinstance(c, TimeMAEPretrain))[0]
    assert cb.weights_path == tmp_path / 'b' / 'timemae_encoder.pth'  # this folder's file, not the first run's


def test_resume_without_a_state_file_says_so_and_validate_announces_no_encoder(udls, tmp_path, capsys):
    """`resume=True` where no state was written (a first run, or a mistyped target_dir) trains anew and says so, once;
    `learn.validate()` afterwards saves nothing, so it must not print that an encoder was saved."""
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path / 'typo', save_every=1, resume=True), **SMALL)
    capsys.readouterr()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    out = capsys.readouterr().out
    assert out.count(f"resume=True, but there is no pretraining state at {tmp_path / 'typo' / 'timemae_encoder_state.pth'}: "
                     'starting a new run.') == 1, out
    assert out.count('pretrained encoder (validation loss') == 1, out
    with learn.no_bar(), learn.no_logging(): learn.validate()
    out = capsys.readouterr().out
    assert 'pretrained encoder' not in out and 'resume=True' not in out, out
    # the same script run again: every epoch is done, none trains, and it still says where the encoder is
    again = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path / 'typo', save_every=1, resume=True), **SMALL)
    with again.no_bar(), again.no_logging(): again.fit(1, 1e-3)
    out = capsys.readouterr().out
    assert out.count(f"pretrained encoder (validation loss") == 1 and 'no pretraining state' not in out, out


def test_a_learned_tokenizer_run_saves_its_state_too(udls, tmp_path):
    "The state file records the vocabulary of every tokenizer kind (the Gumbel one learns its codes)."
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(tokenizer='gumbel', target_dir=tmp_path, save_every=1, verbose=False), **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert "'vocab_size': 192" in torch.load(tmp_path / 'timemae_encoder_state.pth', weights_only=False)['settings']['pretrain']


def test_validate_and_get_preds_leave_the_state_and_the_weights_alone(udls, tmp_path):
    "`learn.validate()` and `get_preds()` send before_fit/before_epoch/after_epoch too: they must neither reload the state file nor rewrite it."
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    path = tmp_path / 'timemae_encoder_state.pth'
    for resume in (False, True):
        for f in tmp_path.glob('*.pth'): f.unlink()
        learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False), **SMALL)
        with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3)
        before = {k: v.clone() for k, v in learn.model.state_dict().items()}
        saved = path.read_bytes()
        with learn.no_bar(), learn.no_logging():
            learn.validate()
            learn.get_preds()
        assert path.read_bytes() == saved, f'resume={resume}: the state file was rewritten by validate/get_preds'
        assert all(torch.equal(v, learn.model.state_dict()[k]) for k, v in before.items()), f'resume={resume}: weights changed'
        state = torch.load(path, weights_only=False)
        assert state['epoch'] == 1 and len(state['history']) == 2


def test_a_resumed_run_keeps_the_recorders_rows(udls, tmp_path):
    "The Recorder gets the interrupted run's rows back: skipped epochs logged empty rows, and `plot_loss` failed on them."
    import matplotlib
    matplotlib.use('Agg')
    from fastai.callback.core import Callback, CancelFitException
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    class StopAfter(Callback):
        order = 99  # after the state of the epoch is written
        def after_epoch(self):
            if self.epoch == 1: raise CancelFitException()

    def learner(resume):
        cb = TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False)
        return ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
    first = learner(False)
    with first.no_bar(), first.no_logging(): first.fit(3, 1e-3, cbs=StopAfter())
    assert len(first.recorder.values) == 2
    again, rows = learner(True), []
    again.logger = rows.append                                          # what the progress table would print
    with again.no_bar(): again.fit(3, 1e-3)
    assert [r[0] for r in rows] == [2] and all(v != '' for v in rows[0]), rows  # no empty row per skipped epoch
    assert again.logger == rows.append                                  # the learner's own logger is back
    rec = again.recorder
    assert len(rec.values) == 3 and all(len(row) == len(first.recorder.values[0]) > 0 for row in rec.values), rec.values
    assert rec.values[:2] == [[float(v) for v in row] for row in first.recorder.values]
    assert len(rec.losses) == len(rec.lrs) == 3 * len(udls.train) and len(rec.iters) == 3
    rec.plot_loss()                                                     # failed on the skipped epochs' empty rows


def test_the_optimizer_state_read_onto_the_cpu_follows_each_parameters_device():
    "fastai's `Optimizer.load_state_dict` moves nothing; on a GPU the next step would mix devices ('meta' stands in)."
    from fastai.optimizer import Adam
    from tsai_timemae.pretrain import _opt_state_to_param_devices
    p = torch.nn.Parameter(torch.empty(3, device='meta'))
    opt = Adam([p], lr=1e-3)
    opt.state[p] = {'grad_avg': torch.zeros(3), 'step': 4}
    _opt_state_to_param_devices(opt)
    assert opt.state[p]['grad_avg'].device.type == 'meta' and opt.state[p]['step'] == 4


def test_an_unreadable_state_file_says_how_to_start_again(udls, tmp_path):
    import pytest
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    (tmp_path / 'timemae_encoder_state.pth').write_bytes(b'not a torch file')
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=True, verbose=False), **SMALL)
    with pytest.raises(ValueError, match=r'Cannot resume: the pretraining state .* cannot be read .*Delete it, or pass resume=False'):
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)


def test_amps_loss_scale_is_saved_and_restored(udls, tmp_path):
    "fastai's MixedPrecision makes a new GradScaler (scale 2**16) every fit; a resumed run continues with the saved one."
    from fastai.callback.core import Callback
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    class FakeScaler:
        def __init__(self): self.scale = 2. ** 16
        def state_dict(self): return {'scale': self.scale}
        def load_state_dict(self, d): self.scale = d['scale']

    class FakeAMP(Callback):
        order = 10  # MixedPrecision's: its before_fit makes learn.scaler before the checkpoint's before_fit
        def before_fit(self): self.learn.scaler = FakeScaler()
        def after_train(self): self.learn.scaler.scale /= 2   # as overflowing steps would halve it

    def learner(resume):
        return ts_learner(udls, TimeMAE, cbs=[FakeAMP(), TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume,
                                                                         verbose=False)], **SMALL)
    first = learner(False)
    with first.no_bar(), first.no_logging(): first.fit(2, 1e-3)
    assert torch.load(tmp_path / 'timemae_encoder_state.pth', weights_only=False)['scaler'] == {'scale': 2. ** 14}
    again = learner(True)
    with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)        # both epochs done: only the restore happens
    assert again.scaler.scale == 2. ** 14


def test_a_distributed_runs_state_resumes_on_one_process(udls, tmp_path):
    "A run of two processes saved a smoothed loss with one entry per process; one process resumes with a single number."
    from fastai.callback.core import Callback, CancelFitException
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    class StopAfterFirst(Callback):
        order = 99
        def after_epoch(self): raise CancelFitException()

    def learner(resume):
        return ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False), **SMALL)
    first = learner(False)
    with first.no_bar(), first.no_logging(): first.fit(2, 1e-3, cbs=StopAfterFirst())
    path = tmp_path / 'timemae_encoder_state.pth'
    state = torch.load(path, weights_only=False)
    val, count = state['smooth_loss']
    state['smooth_loss'], state['world_size'] = (torch.stack([val, val + 1]), count), 2   # as two processes wrote it
    torch.save(state, path)
    again = learner(True)
    with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)
    assert all(torch.as_tensor(v).numel() == 1 for v in again.recorder.losses)


def test_resuming_with_another_number_of_processes_decorrelates_the_ranks_again(udls, tmp_path, monkeypatch):
    """Saved by another number of processes, every rank resumes from rank 0's streams, so ranks above 0 must be moved
    off them again (`decorrelate_rank_streams`); saved by as many processes, each rank's own streams are kept."""
    from tsai.all import ts_learner
    from tsai_timemae import pretrain
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    calls = []
    monkeypatch.setattr(pretrain, 'decorrelate_rank_streams', lambda: calls.append(1))
    def learner(resume):
        return ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False), **SMALL)
    first = learner(False)
    with first.no_bar(), first.no_logging(): first.fit(2, 1e-3, cbs=_StopAfter(0))
    path = tmp_path / 'timemae_encoder_state.pth'
    saved = torch.load(path, weights_only=False)
    for by_rank, expected in ((saved['rng_by_rank'], []), (saved['rng_by_rank'] * 2, [1])):  # one process, then two
        torch.save({**saved, 'rng_by_rank': by_rank}, path)
        calls.clear()
        again = learner(True)
        with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)
        assert calls == expected, (len(by_rank), calls)


# -- the ways a user attaches the callback, fastai's trackers and loggers, scripts with several fits ------------------
class _StopAfter:
    "A callback that ends the fit after epoch `n` (as a crash would, once that epoch's state is written)."
    def __new__(cls, n):
        from fastai.callback.core import Callback, CancelFitException
        class StopAfter(Callback):
            order = 99
            def after_epoch(self):
                if self.epoch == n: raise CancelFitException()
        return StopAfter()


def _counting():
    from fastai.callback.core import Callback
    class CountEpochs(Callback):
        def before_fit(self): self.n = 0
        def before_train(self): self.n += 1
    return CountEpochs()


def test_resume_works_however_the_callback_is_attached(udls, tmp_path):
    """`learn.add_cb(cb)` and `learn.fit(n, cbs=cb)`: the callbacks it adds used to join after this fit's before_fit,
    so a resumed fit trained every epoch again (and wrote a state no resume would take)."""
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from tsai_timemae.pretrain import PretrainCheckpoint
    from conftest import SMALL
    for how in ('add_cb', 'fit(cbs=)'):
        for f in tmp_path.glob('*.pth'): f.unlink()
        for resume, stop in ((False, [_StopAfter(1)]), (True, [])):
            cb, count = TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False), _counting()
            learn = ts_learner(udls, TimeMAE, **SMALL)
            if how == 'add_cb': learn.add_cb(cb)
            with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3, cbs=[count, *stop] + ([cb] if how != 'add_cb' else []))
            assert count.n == 2, (how, resume, count.n)  # resumed: the 2 epochs left, not 4
            state = torch.load(tmp_path / 'timemae_encoder_state.pth', weights_only=False)
            assert state['epoch'] == (3 if resume else 1) and state['settings']['schedule'] == {'lr': [0.001]}, how
        assert cb.weights_path == tmp_path / 'timemae_encoder.pth'
        if how == 'fit(cbs=)':  # detached at the end of the fit: it takes its helpers along
            assert not any(isinstance(c, (TimeMAEPretrain, PretrainCheckpoint)) for c in learn.cbs), learn.cbs


def test_a_second_pretraining_callback_on_one_learner_is_refused(udls, tmp_path):
    "Two would each update the momentum target after every step (a load_learner'd learner keeps its own)."
    import pytest
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), **SMALL)
    with pytest.raises(ValueError, match=r'already has a TimeMAEPretrain.*learn.remove_cb\(learn.time_mae_pretrain\)'):
        learn.add_cb(TimeMAEPretrain(target_dir=tmp_path, save_every=1, verbose=False))
    assert sum(isinstance(c, TimeMAEPretrain) for c in learn.cbs) == 1
    other = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, verbose=False), **SMALL)
    mine = other.time_mae_pretrain
    with pytest.raises(ValueError, match='already has a TimeMAEPretrain'):
        learn.add_cb(mine)  # refused: it stays on its own learner, with the callbacks it added there
    assert mine.learn is other and all(h in other.cbs for h in mine._helpers()) and len(mine._helpers()) == 5
    learn.remove_cb(learn.time_mae_pretrain)  # as the error says: then the new one joins, alone
    learn.add_cb(TimeMAEPretrain(target_dir=tmp_path, save_every=1, verbose=False))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert (tmp_path / 'timemae_encoder_state.pth').is_file()


def test_fastais_trackers_see_the_skipped_epochs_and_an_early_stop_is_saved(udls, tmp_path):
    """EarlyStoppingCallback and SaveModelCallback read the Recorder's last row after every epoch: the skipped epochs'
    empty rows made them fail. Early stopping (order 63) ended the fit before the state (order 70) was written."""
    from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    learner = lambda resume: ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume,
                                                                           verbose=False), path=tmp_path, **SMALL)
    first = learner(False)
    with first.no_bar(), first.no_logging():  # the resumed script has the same callbacks as the interrupted one
        first.fit(4, 1e-3, cbs=[_StopAfter(1), SaveModelCallback(every_epoch=True, fname='e'), SaveModelCallback(fname='m')])
    saved = {e: (tmp_path / 'models' / f'e_{e}.pth').read_bytes() for e in (0, 1)}
    # the first resumed fit trains epochs 2 and 3; the later ones resume the finished run: every epoch replayed
    for tracker in (SaveModelCallback(every_epoch=True, fname='e'), EarlyStoppingCallback(patience=10), SaveModelCallback(fname='m')):
        again = learner(True)
        with again.no_bar(), again.no_logging(): again.fit(4, 1e-3, cbs=tracker)
        if not getattr(tracker, 'every_epoch', False):
            assert tracker.best == min(r[1] for r in again.recorder.values), type(tracker).__name__
    # the replayed epochs wrote nothing: the interrupted run's files hold those epochs' weights, not the resumed model's
    assert all((tmp_path / 'models' / f'e_{e}.pth').read_bytes() == b for e, b in saved.items())
    assert (tmp_path / 'models' / 'e_3.pth').is_file()
    for f in tmp_path.glob('*.pth'): f.unlink()
    stopped = learner(False)
    with stopped.no_bar(), stopped.no_logging(): stopped.fit(6, 1e-3, cbs=EarlyStoppingCallback(monitor='train_loss', comp=np.greater))
    state = torch.load(tmp_path / 'timemae_encoder_state.pth', weights_only=False)
    assert state['epoch'] == len(stopped.recorder.values) - 1 == 1  # stopped after epoch 1 (its loss was not higher)
    assert all(torch.equal(v, stopped.model.state_dict()[k]) for k, v in state['model'].items())


def test_a_finished_run_resumed_to_itself_gives_the_learner_its_logger_back(udls, tmp_path):
    "Every epoch skipped: the progress bar's (or CSVLogger's) writer stayed the logger; the next CSVLogger fit failed."
    from fastai.callback.progress import CSVLogger
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    learner = lambda resume: ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume,
                                                                           verbose=False), **SMALL)
    first = learner(False)
    with first.no_bar(), first.no_logging(): first.fit(1, 1e-3)
    again = learner(True)
    again.fit(1, 1e-3)  # with the progress bar, which swaps the logger during a fit
    assert again.logger is print
    again = learner(True)
    with again.no_bar(): again.fit(1, 1e-3, cbs=CSVLogger(fname=str(tmp_path / 'log.csv')))  # as does CSVLogger
    assert again.logger is print
    rows = []
    again.logger = rows.append
    with again.no_bar(): again.fit(1, 1e-3, cbs=CSVLogger(fname=str(tmp_path / 'log.csv')))  # a further fit: a new run
    assert len(rows) == 1 and rows[0][0] == 0, rows  # one epoch, trained anew


def test_a_script_with_two_fits_resumes_the_one_that_was_interrupted(basic_motions, splits, tmp_path):
    """Pretrain, then "more epochs" in a second fit; killed during the second. The first fit used to reload the second's
    state and the second then trained again. Now the first is skipped (it had ended) and the second resumes."""
    from fastai.torch_core import set_seed
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    def script(resume, stop_in_second=None, second=3):
        set_seed(0)  # before the data loaders, as README says: the same batches in every run
        udls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[TSStandardize(by_var=True)], bs=10)
        cb, counts = TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False), []
        learn = ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
        for i, n in enumerate((3, second)):
            count = _counting()
            stop = [_StopAfter(stop_in_second)] if i == 1 and stop_in_second is not None else []
            with learn.no_bar(), learn.no_logging(): learn.fit(n, 1e-3, cbs=[count, *stop])
            counts.append(count.n)
        return counts, [h['epoch'] for h in cb.history], learn
    for second in (2, 3):
        for f in tmp_path.glob('*.pth'): f.unlink()
        assert script(False, stop_in_second=0, second=second)[0] == [3, 1]
        counts, epochs, resumed = script(True, second=second)
        assert counts == [0, second - 1] and epochs == [0, 1, 2, *range(second)], (second, counts, epochs)
    whole = script(False)[2]  # uninterrupted, same seed: the same model as the resumed script's
    assert all(torch.equal(v, whole.model.state_dict()[k]) for k, v in resumed.model.state_dict().items())


def test_random_states_reach_the_loader_inside_a_distributed_wrapper():
    """fastai's `DistributedDL` has no `rng` of its own: the state file must hold (and restore) the wrapped loader's,
    which shuffles the epoch's indices, or a resumed distributed run sees another batch order."""
    from types import SimpleNamespace
    from fastai.data.load import DataLoader
    from tsai_timemae.pretrain import _restore_rng_states, _rng_states
    inner = DataLoader(list(range(10)), bs=2, shuffle=True)
    wrapped = SimpleNamespace(dl=inner)                      # what `DistributedDL` looks like from outside
    learn = SimpleNamespace(dls=SimpleNamespace(loaders=[wrapped]))
    saved = _rng_states(learn)
    assert saved['loaders'][0] == inner.rng.getstate()
    first = [inner.rng.random() for _ in range(3)]
    _restore_rng_states(learn, saved)
    assert [inner.rng.random() for _ in range(3)] == first


def test_the_state_file_passed_as_an_encoder_loads_with_its_architecture_and_says_what_it_is(udls, dls, tmp_path):
    """`models/` holds two files after a `save_every` run; a user who picks `timemae_encoder_state.pth` gets the encoder
    it holds, built with the architecture recorded in it (not the defaults a bare state_dict would assume), and a
    warning naming the encoder file pretraining saved."""
    import warnings
    import pytest
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain, TimeMAEWarning, finelast_learner
    from conftest import SMALL
    cb = TimeMAEPretrain(target_dir=tmp_path, save_every=1, checkpoint='last', verbose=False)
    learn = ts_learner(udls, TimeMAE, cbs=cb, **{**SMALL, 'n_heads': 1})  # not the default 4: a bare file would assume 4
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        ft = finelast_learner(dls, tmp_path / 'timemae_encoder_state.pth')
    said = [str(x.message) for x in w if issubclass(x.category, TimeMAEWarning)]
    named = [s for s in said if "TimeMAEPretrain's resume state" in s]
    assert len(named) == 1, said                          # once, though the learner reads the file more than once
    assert 'after 1 epoch(s)' in named[0] and str(tmp_path / 'timemae_encoder.pth') in named[0], named
    assert not any('stores no architecture settings' in s for s in said), said
    assert ft.model.backbone.config['n_heads'] == 1
    enc = read_encoder_weights(tmp_path / 'timemae_encoder.pth')
    got = {f'backbone.{k}': v for k, v in ft.model.backbone.state_dict().items()}
    assert all(torch.equal(enc[k], got[k]) for k in enc), 'the state file gave another encoder than the saved one'


def test_the_data_fingerprint_reads_values_not_addresses():
    "Objects without values hash by type (a repr with a memory address refused every resume); tensors in dicts by value."
    import torch
    from tsai_timemae.pretrain import dataset_fingerprint
    class O: pass
    assert dataset_fingerprint([(O(),) for _ in range(3)]) == dataset_fingerprint([(O(),) for _ in range(3)])
    a = [{'x': torch.zeros(2000)}, {'x': torch.zeros(2000)}]
    b = [{'x': torch.zeros(2000)}, {'x': torch.zeros(2000).index_fill(0, torch.tensor([1000]), 1.)}]
    assert dataset_fingerprint(a) != dataset_fingerprint(b)
    assert dataset_fingerprint([(torch.ones(3), 'a')]) != dataset_fingerprint([(torch.ones(3), 'b')])


def test_the_same_learner_refit_after_a_crash_resumes_the_crashed_fit(basic_motions, splits, tmp_path):
    """A notebook's stop button (KeyboardInterrupt) mid-epoch, then the same cell again: the crashed fit had counted as
    a fit, so the re-run was a new one that trained every epoch again from the half-trained weights and overwrote the
    state file. It resumes now, to the model an uninterrupted run ends with."""
    from fastai.callback.core import Callback
    from fastai.torch_core import set_seed
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    class Interrupt(Callback):
        order = 99
        def after_batch(self):
            if self.epoch == 2 and self.iter == 1: raise KeyboardInterrupt

    def learner(folder):
        set_seed(0)
        udls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[TSStandardize(by_var=True)], bs=10)
        cb = TimeMAEPretrain(target_dir=folder, save_every=1, resume=True, verbose=False)
        return ts_learner(udls, TimeMAE, cbs=cb, **SMALL), cb
    whole, _ = learner(tmp_path / 'whole')
    with whole.no_bar(), whole.no_logging(): whole.fit(4, 1e-3)
    learn, cb = learner(tmp_path / 'broken')
    with pytest.raises(KeyboardInterrupt):
        with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3, cbs=Interrupt())
    count = _counting()
    with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3, cbs=count)  # the same cell again
    assert count.n == 2 and [h['epoch'] for h in cb.history] == [0, 1, 2, 3]
    assert torch.load(tmp_path / 'broken' / 'timemae_encoder_state.pth', weights_only=False)['fit'] == 1
    assert all(torch.equal(v, whole.model.state_dict()[k]) for k, v in learn.model.state_dict().items())
    count = _counting()
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3, cbs=count)  # a fit after a finished one is a new one
    assert count.n == 2 and torch.load(tmp_path / 'broken' / 'timemae_encoder_state.pth', weights_only=False)['fit'] == 2


def test_replayed_epochs_do_not_lower_the_resumed_learning_rate_again(udls, tmp_path):
    """fastai's ReduceLROnPlateau sees the skipped epochs' rows again; the file's optimizer already holds the rate it
    lowered, and it was divided a second time: the resumed run followed another schedule."""
    from fastai.callback.core import Callback
    from fastai.callback.tracker import ReduceLROnPlateau
    from fastai.torch_core import set_seed
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    class Rates(Callback):
        def before_fit(self): self.lrs = []
        def before_train(self): self.lrs.append(self.opt.hypers[-1]['lr'])

    def run(folder, resume, *cbs):
        set_seed(0)
        learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=folder, save_every=1, resume=resume, verbose=False), **SMALL)
        plateau = ReduceLROnPlateau(min_delta=100., patience=1, factor=10.)  # never better than epoch 0: /10 each epoch
        with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-2, cbs=[plateau, *cbs])
    whole, resumed = Rates(), Rates()
    run(tmp_path / 'w', False, whole)
    run(tmp_path / 'b', False, _StopAfter(1))
    run(tmp_path / 'b', True, resumed)
    assert whole.lrs == [1e-2, 1e-2, 1e-3, 1e-4]
    assert resumed.lrs == whole.lrs[2:]


def test_resuming_with_another_optimizer_or_batch_transforms_is_a_clear_error(basic_motions, splits, tmp_path):
    """Weight decay, the optimizer (SGD's state onto Adam failed at its first step, Adam's onto SGD resumed silently) and
    the batch transforms (the fingerprint reads the series before them) are part of the run: another one is refused."""
    from functools import partial
    from fastai.optimizer import SGD, Adam, OptimWrapper, RAdam, ranger
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    def fit(resume, tfms=(TSStandardize(by_var=True),), **kw):
        udls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=list(tfms), bs=10)
        learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False),
                           **SMALL, **kw)
        with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3, cbs=[] if resume else [_StopAfter(0)])
    fit(False, wd=0.5, opt_func=partial(ranger, k=6))
    with pytest.raises(ValueError, match=r"other settings \(opt.wd: \[0.5\] there, \[0.0\] now\).*optimizer \(opt_func, wd\)"):
        fit(True, wd=0., opt_func=partial(ranger, k=6))
    with pytest.raises(ValueError, match=r"other settings \(opt.opt_func: 'ranger\(k=6\)' there, 'SGD' now; opt.kind: "):
        fit(True, wd=0.5, opt_func=SGD)
    with pytest.raises(ValueError, match=r"opt.opt_func: 'ranger\(k=6\)' there, 'RAdam' now"):  # ranger is Lookahead(RAdam)
        fit(True, wd=0.5, opt_func=RAdam)
    with pytest.raises(ValueError, match=r"opt.opt_func: 'ranger\(k=6\)' there, 'ranger\(k=3\)' now"):
        fit(True, wd=0.5, opt_func=partial(ranger, k=3))
    with pytest.raises(ValueError, match=r"other settings \(tfms.after_batch: \[.*TSStandardize.*\] there, \[.*\] now\)"):
        fit(True, tfms=(), wd=0.5, opt_func=partial(ranger, k=6))
    fit(True, wd=0.5, opt_func=partial(ranger, k=6))  # the same run resumes
    for f in tmp_path.glob('*.pth'): f.unlink()
    fit(False, wd=0., opt_func=lambda *a, **k: Adam(*a, **k))               # lambdas all read '<lambda>': the steps tell them apart
    with pytest.raises(ValueError, match=r"opt.kind: \[.*adam_step'\] there, \[.*sgd_step'\] now"):
        fit(True, wd=0., opt_func=lambda *a, **k: SGD(*a, **k))
    for f in tmp_path.glob('*.pth'): f.unlink()
    wrapped = lambda betas: partial(OptimWrapper, opt=torch.optim.AdamW, betas=betas)
    fit(False, wd=0., opt_func=wrapped((0.9, 0.95)))
    with pytest.raises(ValueError, match=r"betas=\(0.9, 0.95\), opt=AdamW\)' there, 'OptimWrapper\(betas=\(0.9, 0.999\)"):
        fit(True, wd=0., opt_func=wrapped((0.9, 0.999)))
    fit(True, wd=0., opt_func=wrapped((0.9, 0.95)))


def test_a_second_fit_after_fit_one_cycle_resumes_and_a_remade_learner_resumes_its_crashed_fit(basic_motions, splits, tmp_path):
    """fit_one_cycle leaves the optimizer's momentum where its schedule ended: a resumed script that skips that fit has
    the default there, and comparing live hyper-parameters refused every resume of the fit after it. And a callback
    whose only fit crashed, given to a learner made again (the cell re-run), still resumes that fit."""
    from fastai.callback.core import Callback
    from fastai.torch_core import set_seed
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    def learner(folder, resume, cb=None):
        set_seed(0)
        udls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[TSStandardize(by_var=True)], bs=10)
        cb = cb or TimeMAEPretrain(target_dir=folder, save_every=1, resume=resume, verbose=False)
        return ts_learner(udls, TimeMAE, cbs=cb, **SMALL), cb
    def script(folder, resume, stop=None):
        learn, _ = learner(folder, resume)
        count = _counting()
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(2, 1e-3)
            learn.fit(3, 1e-3, cbs=[count] + ([_StopAfter(stop)] if stop is not None else []))
        return learn, count.n
    whole, _ = script(tmp_path / 'w', False)
    script(tmp_path / 'b', False, stop=0)
    resumed, n = script(tmp_path / 'b', True)
    assert n == 2 and all(torch.equal(v, whole.model.state_dict()[k]) for k, v in resumed.model.state_dict().items())

    class Interrupt(Callback):
        order = 99
        def after_batch(self):
            if self.epoch == 1 and self.iter == 1: raise KeyboardInterrupt
    learn, cb = learner(tmp_path / 'c', True)
    with pytest.raises(KeyboardInterrupt):
        with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3, cbs=Interrupt())
    learn, _ = learner(tmp_path / 'c', True, cb=cb)  # the learner's cell again, with the same callback
    count = _counting()
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3, cbs=count)
    assert count.n == 2 and [h['epoch'] for h in cb.history] == [0, 1, 2]


def test_a_validation_inside_a_fit_does_not_leave_that_fit_open(udls, tmp_path):
    """A callback calling `learn.validate()` during a fit reset the state saver's mark of the outer fit, which then
    never closed: the next fit was taken for a re-run of the finished one and trained nothing."""
    from fastai.callback.core import Callback
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    class ScoreEachEpoch(Callback):  # not "Validate": fastai would put it at learn.validate
        order, busy = 99, False
        def after_epoch(self):
            if ScoreEachEpoch.busy: return
            ScoreEachEpoch.busy = True
            try: self.learn.validate()
            finally: ScoreEachEpoch.busy = False
    cb = TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=True, verbose=False)
    learn = ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3, cbs=ScoreEachEpoch())
    count = _counting()
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3, cbs=count)   # a new fit, not the first one again
    assert count.n == 3 and torch.load(tmp_path / 'timemae_encoder_state.pth', weights_only=False)['fit'] == 2


def test_state_files_of_earlier_optimizer_records_still_resume(udls, tmp_path):
    """The optimizer's record changed twice within one session ({kind, hypers}, then {opt_func, wd}, then all three):
    files of each resume when the optimizer is the same, and a refusal never has an empty list of differences."""
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    make = lambda: ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=True,
                                                                 verbose=False), **SMALL)
    first = make()
    with first.no_bar(), first.no_logging(): first.fit(1, 1e-3)
    path = tmp_path / 'timemae_encoder_state.pth'
    state = torch.load(path, weights_only=False)
    opt = state['settings']['opt']
    for old in ({'kind': opt['kind'], 'hypers': [{'eps': 1e-5, 'mom': 0.93, 'sqr_mom': 0.99, 'wd': 0.01}]},
                {'opt_func': opt['opt_func'], 'wd': opt['wd']}):
        state['settings']['opt'] = old
        torch.save(state, path)
        again = make()
        with again.no_bar(), again.no_logging(): again.fit(1, 1e-3)   # the finished run, resumed to itself
    state['settings']['opt'] = {'kind': ['sgd_step'], 'hypers': []}
    state['settings'].pop('tfms')
    state['settings']['extra'] = 1                                      # a key only the file has is named too
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"opt.kind: \['sgd_step'\] there, .* now; extra: 1 there, absent now\)"):
        again = make()
        with again.no_bar(), again.no_logging(): again.fit(1, 1e-3)


def test_a_resumed_run_without_validation_keeps_the_best_epochs_mean_training_loss(tmp_path):
    """Without validation data the saver's `best` is an epoch's mean training loss. When fastai's `SaveModelCallback`
    reloads an epoch the resumed run only replayed, `best` must be that epoch's mean, as in an uninterrupted run; it was
    the smoothed `train_loss` column, because the replayed epochs' means were not in the state file."""
    from fastai.callback.tracker import SaveModelCallback
    from fastai.torch_core import set_seed
    from tsai.all import get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    X = np.random.default_rng(0).standard_normal((24, 2, 40)).astype('float32')
    udls = get_ts_dls(X, splits=(list(range(24)), []), bs=8)

    def fit(folder, resume, stop):
        set_seed(0)  # python's stream too: fastai shuffles with it
        learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=folder, save_every=1, resume=resume, verbose=False),
                           path=folder, **SMALL)
        reload = SaveModelCallback(monitor='train_loss', comp=np.greater, fname='smc')  # reloads epoch 0 or 1, not 2
        with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3, cbs=[reload] + ([_StopAfter(1)] if stop else []))
        return learn.cbs.filter(lambda c: isinstance(c, TimeMAEPretrain))[0]

    whole = fit(tmp_path / 'whole', False, False)
    fit(tmp_path / 'cut', False, True)
    resumed = fit(tmp_path / 'cut', True, False)
    assert whole.best in whole.saver._train_losses.values()
    assert resumed.best == pytest.approx(whole.best, rel=1e-6)


def test_gradient_accumulation_carried_into_the_next_epoch_resumes_to_the_same_model(basic_motions, splits, tmp_path):
    """fastai's `GradientAccumulation` carries its count and summed gradients across epochs when an epoch's series are
    not a multiple of `n_acc`; the state file kept neither, so a resumed run stepped at other batches and ended with
    another encoder. Another `n_acc` than the state file's is refused by name."""
    from fastai.callback.core import Callback
    from fastai.callback.training import GradientAccumulation
    from fastai.torch_core import set_seed
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    class Crash(Callback):
        order = 99
        def after_epoch(self):
            if self.epoch == 0: raise RuntimeError('crash')

    def learner(folder):
        set_seed(0)  # 30 training series at bs 10: an epoch steps once at 20 (n_acc) and carries 10 over
        udls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[TSStandardize(by_var=True)], bs=10)
        cb = TimeMAEPretrain(target_dir=folder, save_every=1, resume=True, verbose=False)
        return ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
    whole = learner(tmp_path / 'whole')
    with whole.no_bar(), whole.no_logging(): whole.fit(3, 1e-3, cbs=GradientAccumulation(20))
    broken = learner(tmp_path / 'broken')
    with pytest.raises(RuntimeError, match='crash'), broken.no_bar(), broken.no_logging():
        broken.fit(3, 1e-3, cbs=[GradientAccumulation(20), Crash()])
    assert torch.load(tmp_path / 'broken' / 'timemae_encoder_state.pth', weights_only=False)['grad_accum']['count'] == 10
    again = learner(tmp_path / 'broken')
    with pytest.raises(ValueError, match='n_acc: 20 there, 30 now'), again.no_bar(), again.no_logging():
        again.fit(3, 1e-3, cbs=GradientAccumulation(30))
    again = learner(tmp_path / 'broken')
    with again.no_bar(), again.no_logging(): again.fit(3, 1e-3, cbs=GradientAccumulation(20))
    assert all(torch.equal(v, whole.model.state_dict()[k]) for k, v in again.model.state_dict().items())


def test_an_encoder_file_deleted_after_the_state_was_saved_is_written_again_or_named(udls, tmp_path):
    """A Ctrl-C after the last state was saved, with the encoder file deleted (the demo deletes its part-trained file)
    or a folder copied without it: the resumed run's `weights_path` named a file that did not exist. With
    checkpoint='last' the resumed model is the encoder that file held, so it is written again; with 'best' the best
    epoch's encoder is lost, and a warning says so instead of naming a missing file. fastai's `train_iter` continues."""
    from fastai.callback.core import Callback
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain, TimeMAEWarning, read_encoder_weights
    from conftest import SMALL

    class Iters(Callback):
        order = 99
        def before_fit(self): self.seen = []
        def after_batch(self):
            if self.training: self.seen.append(self.train_iter)

    def learner(resume, checkpoint='last'):
        cb = TimeMAEPretrain(target_dir=tmp_path / checkpoint, save_every=1, resume=resume, verbose=False, checkpoint=checkpoint)
        return ts_learner(udls, TimeMAE, cbs=cb, **SMALL), cb
    first, cb = learner(False)
    with first.no_bar(), first.no_logging(): first.fit(2, 1e-3)
    cb.weights_path.unlink()
    again, cb = learner(True)
    with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)       # finished: nothing trains
    assert cb.weights_path is not None and cb.weights_path.is_file()
    w = read_encoder_weights(cb.weights_path)
    assert all(torch.equal(v, first.model.state_dict()[k]) for k, v in w.items())
    from tsai_timemae.weights import read_input_stats  # the file written again records the inputs, as the first did
    assert read_input_stats(cb.weights_path) == first.model.backbone.input_stats is not None
    # checkpoint='best' whose best epoch is the state's: the state's model is that encoder, written again
    first, cb = learner(False, 'best')
    with first.no_bar(), first.no_logging(): first.fit(2, 1e-3)
    state_file = tmp_path / 'best' / 'timemae_encoder_state.pth'
    state = torch.load(state_file, weights_only=False)
    assert state['saved_epoch'] == state['epoch'] == 1, (state['saved_epoch'], [h['valid_loss'] for h in state['history']])
    cb.weights_path.unlink()
    again, cb = learner(True, 'best')
    with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)
    assert cb.weights_path.is_file() and cb.saver.saved_epoch == 1
    # a NaN validation loss at epoch 0 (the weights finite), epoch 1 saved: the file held the state's epoch all the same
    class NaNValidAtFirst(Callback):
        order = 55  # after the Recorder stored the row, before the saver reads it
        def after_epoch(self):
            if self.epoch == 0: self.recorder.values[-1][1] = float('nan')
    for checkpoint in ('last', 'best'):
        first, cb = learner(False, checkpoint)
        with first.no_bar(), first.no_logging(): first.fit(2, 1e-3, cbs=NaNValidAtFirst())
        assert cb.saver.diverged_at == 0 and cb.saver.saved_epoch == 1
        cb.weights_path.unlink()
        again, cb = learner(True, checkpoint)
        with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)
        assert cb.weights_path is not None and cb.weights_path.is_file(), checkpoint
    # an earlier best epoch, or a run that diverged after the file's epoch: that encoder is lost, and said so
    for change, why in (({'saved_epoch': 0}, 'it held epoch 0, and .* the model of epoch 1 only'),
                        ({'diverged_at': 1, 'saved_epoch': 0}, 'pretraining diverged at epoch 1, after the epoch it held')):
        torch.save({**state, **change}, state_file)
        (tmp_path / 'best' / 'timemae_encoder.pth').unlink(missing_ok=True)
        again, cb = learner(True, 'best')
        with pytest.warns(TimeMAEWarning, match=f'encoder file .* is missing, .*cannot give it back \\({why}\\)'):
            with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)
        assert cb.weights_path is None
    # a run stopped after its first epoch resumes counting fastai's iterations where it stopped (TensorBoard logs by it)
    class StopAfterFirst(Callback):
        order = 99
        def after_epoch(self): raise CancelFitException()
    from fastai.callback.core import CancelFitException
    first, cb = learner(False)
    with first.no_bar(), first.no_logging(): first.fit(3, 1e-3, cbs=StopAfterFirst())
    again, cb = learner(True)
    iters = Iters()
    with again.no_bar(), again.no_logging(): again.fit(3, 1e-3, cbs=iters)
    n = len(udls.train)
    assert iters.seen == list(range(n + 1, 3 * n + 1)), iters.seen  # counted after fastai's own after_batch


def test_a_finished_runs_encoder_file_changed_since_is_left_alone_and_said(udls, tmp_path):
    """Another run with the same fname (another process, or without save_every) rewrote the encoder file after a run
    had finished: resuming that run said its encoder "is at" the file, which held the other run's. The state now
    records the file's hash: a file changed since (another run's, or one the user saved there by hand) is left as it
    is, a warning says so, and weights_path is None. A tracker that reloads its best epoch makes the callback rewrite
    the file at the end of the fit: that is this run's own file, and resuming says nothing."""
    import warnings
    from fastai.callback.tracker import SaveModelCallback
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain, TimeMAEWarning
    from tsai_timemae.weights import file_sha256
    from conftest import SMALL

    def learner(resume, save_every=1, **kw):
        cb = TimeMAEPretrain(target_dir=tmp_path, save_every=save_every, resume=resume, verbose=False, **kw)
        return ts_learner(udls, TimeMAE, cbs=cb, **SMALL), cb
    a, cb = learner(False)
    with a.no_bar(), a.no_logging(): a.fit(2, 1e-3)
    other = cb.weights_path
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # in one process, the second run's first save warns about the shared file
        b, _ = learner(False, save_every=None)
        with b.no_bar(), b.no_logging(): b.fit(1, 1e-2)
    held = file_sha256(other)
    again, cb = learner(True)
    with pytest.warns(TimeMAEWarning, match=r'has changed since this run saved it .*left as it is, and cb.weights_path is None'):
        with again.no_bar(), again.no_logging(): again.fit(2, 1e-3)       # finished: nothing trains
    assert cb.weights_path is None and file_sha256(other) == held       # never written over
    # SaveModelCallback reloads its best epoch at the end, and the encoder file is written again: the state follows
    for f in tmp_path.glob('*.pth'): f.unlink()
    a, cb = learner(False)
    with a.no_bar(), a.no_logging(): a.fit(3, 1e-3, cbs=SaveModelCallback(monitor='train_loss', comp=np.greater))
    state_file = tmp_path / 'timemae_encoder_state.pth'
    assert torch.load(state_file, weights_only=False)['weights_sha256'] == file_sha256(cb.weights_path)
    again, cb = learner(True)
    with warnings.catch_warnings():
        warnings.simplefilter('error', TimeMAEWarning)
        with again.no_bar(), again.no_logging(): again.fit(3, 1e-3, cbs=SaveModelCallback(monitor='train_loss', comp=np.greater))
    assert cb.weights_path is not None


def test_other_transform_settings_or_drop_last_are_refused_and_older_states_still_resume(basic_motions, splits, tmp_path):
    """Transforms were compared by class name, so `TSStandardize(by_sample=True)` resumed a run scaled by variable (its
    epochs before and after on other inputs), and another `drop_last` (another number of steps an epoch) resumed too."""
    from tsai.all import TSStandardize, get_ts_dls, ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL

    def fit(resume, tfms=(TSStandardize(by_var=True),), drop_last=True, epochs=2, stop=True):
        dls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=list(tfms), bs=10, drop_last=drop_last)
        learn = ts_learner(dls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False), **SMALL)
        with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 1e-3, cbs=[_StopAfter(0)] if stop and not resume else [])
    fit(False)
    with pytest.raises(ValueError, match=r"tfms.after_batch: \['TSStandardize\(.*by_sample=False.*\)'\] there, "
                                         r"\['TSStandardize\(.*by_sample=True.*\)'\] now\).*their settings"):
        fit(True, tfms=(TSStandardize(by_sample=True, by_var=True),))
    with pytest.raises(ValueError, match=r'data.drop_last: True there, False now.*drop_last'):
        fit(True, drop_last=False)
    fit(True, tfms=(TSStandardize(by_var=True, verbose=True),))      # printing is no other run
    # a random transform draws whether to act on every batch (fastai's `do`): no setting, so the run resumes
    from tsai.data.transforms import TSMagScale
    for f in tmp_path.glob('*.pth'): f.unlink()
    tfms = (TSStandardize(by_var=True), TSMagScale(0.5, p=0.5))
    fit(False, tfms=tfms)
    for do in (True, False):
        tfms[1].do = do
        fit(True, tfms=tfms, stop=False)
        for f in tmp_path.glob('*.pth'): f.unlink()
        fit(False, tfms=tfms)
    with pytest.raises(ValueError, match=r"TSMagScale\(.*p=0.5.*\)'\] there, \[.*TSMagScale\(.*p=0.9.*\)'\] now"):
        fit(True, tfms=(TSStandardize(by_var=True), TSMagScale(0.5, p=0.9)))
    # a state file written before both were checked (names only, no drop_last) resumes as before
    for f in tmp_path.glob('*.pth'): f.unlink()
    fit(False)
    state_file = tmp_path / 'timemae_encoder_state.pth'
    state = torch.load(state_file, weights_only=False)
    s = state['settings']
    s['tfms'] = {n: [t.split('(')[0] for t in ts] for n, ts in s['tfms'].items()}
    s['data'].pop('drop_last')
    torch.save(state, state_file)
    fit(True, tfms=(TSStandardize(by_sample=True, by_var=True),), drop_last=False)


def test_a_finished_run_asked_for_more_epochs_is_told_how_to_keep_it(udls, tmp_path):
    "The refusal said to delete the file or pass resume=False, which throws the trained model away."
    from tsai.all import ts_learner
    from tsai_timemae.all import TimeMAE, TimeMAEPretrain
    from conftest import SMALL
    def fit(resume, epochs):
        learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, save_every=1, resume=resume, verbose=False), **SMALL)
        with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 1e-3)
    fit(False, 2)
    with pytest.raises(ValueError, match=r'n_epoch: 2 there, 3 now.* That run finished its 2 epochs: to train it further, '
                                         r'resume it with its own call .* then call fit again'):
        fit(True, 3)
    state = tmp_path / 'timemae_encoder_state.pth'
    torch.save({**torch.load(state, weights_only=False), 'epoch': 0}, state)  # an unfinished run: no such advice
    with pytest.raises(ValueError, match=r'n_epoch: 2 there, 3 now') as e: fit(True, 3)
    assert 'That run finished' not in str(e.value)
