"""TimeMAEPretrain: masking, the decoupled encoder, MCC/MRR, EMA, and life inside a fastai learner."""
import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from fastai.callback.core import Callback, CancelStepException
from fastai.data.transforms import Transform
from fastai.torch_core import trainable_params
from tsai.all import get_ts_dls, ts_learner

from tsai_timemae.all import (TimeMAE, TimeMAEPretrain, TimeMAEPretrainer, finelast_learner, gather_tokens,
                              random_masking, read_encoder_weights)
from conftest import SMALL, assert_same_state


def _learner(udls, tmp_path, **cb_kw):
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False, **cb_kw)
    return ts_learner(udls, TimeMAE, cbs=cb, path=tmp_path, **SMALL), cb  # lr_find writes under path/models


def _sha(path): return hashlib.sha256(path.read_bytes()).hexdigest()


# -- masking ---------------------------------------------------------------------------------------------------
def test_mask_ratio_and_masks_drawn_per_sample():
    vis, msk = random_masking(256, 16, 0.6)
    assert msk.shape == (256, int(16 * 0.6)) and vis.shape == (256, 16 - int(16 * 0.6))
    both = torch.cat([vis, msk], 1).sort(1).values
    assert torch.equal(both, torch.arange(16).expand(256, -1))           # a partition of the patches, per sample
    assert len({tuple(sorted(r.tolist())) for r in msk}) > 200            # samples get different masks
    vis2, msk2 = random_masking(256, 16, 0.6)
    assert not torch.equal(msk, msk2)                                     # and every call draws anew
    freq = torch.zeros(16).index_add_(0, msk.flatten(), torch.ones(msk.numel())) / 256
    assert freq.min() > 0.4 and freq.max() < 0.8                          # every position masked ~60% of the time


def test_masking_needs_two_patches():
    with pytest.raises(ValueError, match='at least 2 patches'):
        random_masking(4, 1, 0.6)


def test_mask_tokens_never_enter_the_visible_encoder():
    model = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(model.backbone, vocab_size=16).eval()
    seen = []
    model.backbone.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    x = torch.randn(5, 3, 100)
    torch.manual_seed(1); out = pre(x)
    torch.manual_seed(1); vis, msk = random_masking(5, 10, 0.6)
    assert len(seen) == 1                                                  # one encoder pass: the visible tokens only
    bb = model.backbone
    expected = gather_tokens(bb.patchify(x) + bb.pos_embed[:, :10], vis)
    assert seen[0].shape == (5, 4, 32) and torch.allclose(seen[0], expected, atol=1e-6)
    logits, codes, reps, target, usage = (out[k] for k in ('logits', 'targets', 'masked_reps', 'target_reps', 'usage'))
    assert logits.shape == (5, 6, 16) and codes.shape == (5, 6, 16) and reps.shape == target.shape == (5, 6, 32)
    assert usage.shape == (5, 16) and torch.allclose(usage.sum(-1), torch.ones(5))   # per series: mean code use
    codes = codes.detach()                                                 # one codeword per masked patch
    assert torch.equal((codes > 0.5).sum(-1), torch.ones(5, 6, dtype=torch.long))
    assert torch.allclose(codes.sum(-1), torch.ones(5, 6), atol=1e-5)


@pytest.mark.parametrize('tokenizer', ['codebook', 'gumbel', 'kmeans', 'random_projection'])
def test_every_pretraining_parameter_gets_a_gradient_and_is_trained(udls, tmp_path, tokenizer):
    learn, cb = _learner(udls, tmp_path, tokenizer=tokenizer, vocab_size=8)
    added = cb.pretrainer.pretrain_params()
    grads, before = {}, [p.detach().clone() for p in added]

    class Grab(Callback):
        order = 90
        def after_backward(self):
            if not grads: grads.update({id(p): p.grad is not None and p.grad.abs().sum() > 0 for p in added})

    learn.fit_one_cycle(1, 1e-3, cbs=Grab())                               # optimizer made before before_fit
    in_opt = {id(p) for g in learn.opt.param_lists for p in g}
    assert all(id(p) in in_opt for p in added)
    assert all(grads[id(p)] for p in added), 'some parameter the callback adds got no gradient'
    assert all(not torch.equal(b, p) for b, p in zip(before, added)), 'some parameter was not updated'
    assert all(p.grad is None for p in cb.pretrainer.target.parameters())


def test_ema_target_gets_no_gradient_and_moves_by_the_ema_rule(udls, tmp_path):
    learn, cb = _learner(udls, tmp_path, momentum=0.9)
    checks = []

    class Check(Callback):
        order = 90  # after TimeMAEPretrain's after_step (order 5) has updated the target
        def before_step(self):
            self.t0 = [p.detach().clone() for p in cb.pretrainer.target.parameters()]
        def after_step(self):
            tgt = list(cb.pretrainer.target.parameters())
            online = list(cb.pretrainer.backbone.parameters())
            assert all(not p.requires_grad and p.grad is None for p in tgt)
            checks.append(max((t - (0.9 * t0 + 0.1 * o)).abs().max().item() for t, t0, o in zip(tgt, self.t0, online)))

    learn.fit(1, 1e-3, cbs=Check())
    assert len(checks) == len(udls.train) and max(checks) < 1e-6


def test_ema_target_stays_put_when_a_step_is_cancelled(udls, tmp_path):
    "AMP's overflow and gradient accumulation cancel the optimizer step; fastai still runs `after_step` then."
    learn, cb = _learner(udls, tmp_path, momentum=0.9)
    moved = []

    class CancelEveryOther(Callback):
        order = 10  # where fastai's MixedPrecision cancels an overflowing step
        def before_step(self):
            self.t0 = [p.detach().clone() for p in cb.pretrainer.target.parameters()]
            if self.iter % 2: raise CancelStepException()
        def after_step(self):
            tgt = list(cb.pretrainer.target.parameters())
            moved.append(max((t - t0).abs().max().item() for t, t0 in zip(tgt, self.t0)) > 0)

    learn.fit(1, 1e-3, cbs=CancelEveryOther())
    assert len(moved) == len(udls.train) >= 2
    assert moved == [i % 2 == 0 for i in range(len(moved))]


def test_masking_happens_after_batch_transforms(basic_motions, splits, tmp_path):
    class AddThousand(Transform):
        order = 99
        def encodes(self, x: torch.Tensor): return x + 1000
    udls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[AddThousand()], bs=10)
    learn, cb = _learner(udls, tmp_path)
    seen = []
    cb.pretrainer.register_forward_pre_hook(lambda m, a: seen.append(a[0].mean().item()))
    learn.fit(1, 1e-3)
    assert seen and min(seen) > 500


def test_diversity_term_is_zero_for_uniform_codeword_use_and_grows_with_collapse():
    from tsai_timemae.all import TimeMAELoss
    logits, targets = torch.zeros(2, 3, 4), torch.eye(4)[[0, 1, 2]].expand(2, 3, 4)
    reps = torch.zeros(2, 3, 8)
    plain, div = TimeMAELoss(1., 1.), TimeMAELoss(1., 1., gamma=1.)
    uniform, collapsed = torch.full((4,), .25), torch.tensor([1., 0., 0., 0.])
    out = lambda usage: dict(logits=logits, targets=targets, masked_reps=reps, target_reps=reps, usage=usage,
                             copy_codes=torch.zeros(2, 3, dtype=torch.long), rep_vis=torch.randn(2, 3, 8))
    assert torch.isclose(div(out(uniform)), plain(out(uniform)))
    assert torch.isclose(div(out(collapsed)) - plain(out(collapsed)), torch.tensor(0.75), atol=1e-4)
    assert torch.isclose(div.last['ppl'], torch.tensor(3.), atol=1e-4)    # the hard targets use 3 of 4 codes equally


# -- training on real data ----------------------------------------------------------------------------------------
def test_pretraining_loss_falls_on_a_real_data_set_and_best_encoder_is_saved(udls, tmp_path, seed):
    learn, cb = _learner(udls, tmp_path, checkpoint='best')
    learn.fit_one_cycle(15, 3e-3)
    h = cb.history
    assert len(h) == 15 and {'train_loss', 'valid_loss', 'mcc', 'mrr', 'train_mcc', 'train_mrr'} <= set(h[0])
    first, last = sum(r['train_loss'] for r in h[:3]) / 3, sum(r['train_loss'] for r in h[-3:]) / 3
    assert last < 0.8 * first, (first, last)
    assert learn.recorder.metric_names[:5] == ['epoch', 'train_loss', 'valid_loss', 'mcc', 'mrr']
    best = min(r['valid_loss'] for r in h)
    assert cb.best == pytest.approx(best) and cb.weights_path == tmp_path / 'timemae_encoder.pth'
    assert not list(tmp_path.glob('*.tmp'))                               # no temporary files left behind


@pytest.mark.parametrize('checkpoint', ['best', 'last'])
def test_checkpoint_chooses_which_epoch_is_saved(udls, tmp_path, checkpoint):
    "'best' keeps an earlier epoch whose loss no later one beats; 'last' always saves the final epoch."
    learn, cb = _learner(udls, tmp_path, checkpoint=checkpoint)
    learn.fit(1, 1e-3)
    earlier = read_encoder_weights(cb.weights_path)
    cb.best = -1.                                                          # no later epoch can beat this loss
    learn.fit(2, 1e-3)
    sd = read_encoder_weights(cb.weights_path)
    if checkpoint == 'best':
        assert_same_state(sd, earlier)
        return
    assert_same_state(sd, {k: v for k, v in learn.model.state_dict().items() if k.startswith('backbone.')})
    assert cb.best == pytest.approx(cb.history[-1]['valid_loss'])


def test_the_pretraining_network_is_the_learners_model_for_good_and_labels_are_ignored(dls, tmp_path):
    "As the README says: after joining, `learn.model` is the pretraining network around the same backbone, and stays."
    from tsai_timemae.all import TimeMAELoss
    learn = ts_learner(dls, TimeMAE, **SMALL)
    backbone = learn.model.backbone
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    learn.add_cb(cb)                                                       # joins at the next fit
    learn.fit(1, 1e-3)                                                     # dls has labels: they are ignored
    model = learn.model
    assert isinstance(model, TimeMAEPretrainer) and model.backbone is backbone and cb.pretrainer is model
    assert isinstance(learn.loss_func, TimeMAELoss) and [m.name for m in learn.metrics] == list(TimeMAEPretrain.parts)
    learn.fit(1, 1e-3)
    assert learn.model is model and len(cb.history) == 2
    preds = learn.get_preds()[0]                                           # the pretraining outputs of the valid split
    assert preds['masked_reps'].shape[0] == len(dls.valid_ds) and preds['masked_reps'].shape[-1] == 32


def test_saved_weights_reload_exactly(udls, tmp_path):
    learn, cb = _learner(udls, tmp_path)
    learn.fit(1, 1e-3)                                                     # one epoch: best == final
    sd = read_encoder_weights(cb.weights_path)
    own = {k: v for k, v in learn.model.state_dict().items() if k.startswith('backbone.')}
    assert_same_state(sd, own)
    fresh = ts_learner(udls, TimeMAE, pretrained=True, weights_path=cb.weights_path, **SMALL)
    assert_same_state({k: v for k, v in fresh.model.state_dict().items() if k.startswith('backbone.')}, own)


def test_lr_find_validate_and_get_preds_neither_break_it_nor_overwrite_weights(udls, tmp_path):
    learn, cb = _learner(udls, tmp_path)
    learn.fit(2, 1e-3)
    digest, state = _sha(cb.weights_path), {k: v.clone() for k, v in cb.pretrainer.state_dict().items()}
    written = cb.weights_path.stat().st_mtime_ns
    model, loss_func = learn.model, learn.loss_func
    learn.lr_find(num_it=10, show_plot=False)
    assert_same_state(cb.pretrainer.state_dict(), state)                  # lr_find leaves pretraining as it was
    res = learn.validate()
    assert len(res) == 1 + len(TimeMAEPretrain.parts) and all(torch.isfinite(torch.tensor(float(v))) for v in res)  # valid_loss and parts
    preds = learn.get_preds()[0]
    assert preds['target_reps'].shape[0] == len(udls.valid_ds)
    assert _sha(cb.weights_path) == digest and learn.model is model and learn.loss_func is loss_func
    assert cb.weights_path.stat().st_mtime_ns == written and len(cb.history) == 2   # not even rewritten, nor recorded
    learn.fit(1, 1e-3)                                                     # and it still trains afterwards
    assert len(cb.history) == 3


def test_callback_can_be_added_after_the_optimizer_exists(udls, tmp_path):
    learn = ts_learner(udls, TimeMAE, loss_func=torch.nn.MSELoss(), **SMALL)
    learn.create_opt()
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    learn.add_cb(cb)
    learn.fit(1, 1e-3)
    in_opt = {id(p) for g in learn.opt.param_lists for p in g}
    assert all(id(p) in in_opt for p in cb.pretrainer.pretrain_params())


def test_nan_in_a_batch_is_a_clear_error(basic_motions, splits, tmp_path):
    X = basic_motions[0].copy(); X[3, 1, 10] = float('nan')
    learn, _ = _learner(get_ts_dls(X, splits=splits, bs=40), tmp_path)
    with pytest.raises(ValueError, match='NaN or inf'):
        learn.fit(1, 1e-3)


def test_series_with_a_single_patch_cannot_be_masked(basic_motions, splits, tmp_path):
    udls = get_ts_dls(basic_motions[0][..., :8], splits=splits, bs=10)
    # refused when the learner is built (it was at the first batch, after the tokenizer's fit), naming a window that works
    with pytest.raises(ValueError, match='at least 2 patches.*8 steps make 1 with a window of 8: pass window=4 '):
        ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), window=8, d_model=16, n_layers=1, n_heads=2)
    with pytest.raises(ValueError, match='at least 2 patches.*smaller window'):  # the masking itself, called directly
        random_masking(2, 1, 0.6)


@pytest.mark.parametrize('kw, msg', [(dict(mask_ratio=0.), 'mask_ratio'), (dict(mask_ratio=1.), 'mask_ratio'),
                                     (dict(mask_ratio=1.5), 'mask_ratio'), (dict(vocab_size=1), 'vocab_size'),
                                     (dict(tokenizer='vq'), 'tokenizer'), (dict(momentum=1.5), 'momentum'),
                                     (dict(checkpoint='first'), 'checkpoint'),
                                     (dict(checkpoint='best', save_best=False), "drop checkpoint='best'")])
def test_bad_settings_are_clear_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        TimeMAEPretrain(**kw)


def test_callback_refuses_other_architectures(udls, tmp_path):
    from tsai.models.InceptionTimePlus import InceptionTimePlus
    with pytest.raises(TypeError, match='TimeMAE'):
        ts_learner(udls, InceptionTimePlus, cbs=TimeMAEPretrain(target_dir=tmp_path))


def test_default_checkpoint_is_the_last_epoch_as_the_readme_says(udls, tmp_path):
    learn, cb = _learner(udls, tmp_path)
    assert cb.checkpoint == 'last'
    learn.fit(2, 1e-3)
    assert_same_state(read_encoder_weights(cb.weights_path),
                      {k: v for k, v in learn.model.state_dict().items() if k.startswith('backbone.')})


def test_a_callback_reused_with_a_new_learner_saves_the_new_run(udls, tmp_path, capsys):
    cb = TimeMAEPretrain(target_dir=tmp_path, checkpoint='best')
    first = ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
    first.fit(1, 1e-3)
    cb.best = -1.                                      # as if the first run had a loss no new run can beat
    second = ts_learner(udls, TimeMAE, cbs=cb, **SMALL)   # the re-run cell: same callback object, new learner
    second.fit(1, 1e-3)
    assert len(cb.history) == 1 and cb.weights_path == tmp_path / 'timemae_encoder.pth'
    assert_same_state(read_encoder_weights(cb.weights_path),
                      {k: v for k, v in second.model.state_dict().items() if k.startswith('backbone.')})


def test_a_callback_that_joins_a_new_learner_leaves_the_old_one(udls, tmp_path):
    """Re-used with a second learner, the callback used to stay in the first one's list while serving the second: a
    later fit of the first sent its events to the second learner, printed NaN columns, and reported the second run's
    loss and file as its own. It now leaves the first learner, whose fit trains without it and says so."""
    import warnings
    cb = TimeMAEPretrain(target_dir=tmp_path)
    first = ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
    with first.no_bar(), first.no_logging(): first.fit(1, 1e-3)
    second = ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
    with second.no_bar(), second.no_logging(): second.fit(1, 1e-3)
    assert cb not in first.cbs and not any(isinstance(c, TimeMAEPretrain) for c in first.cbs)
    assert cb.learn is second and cb in second.cbs
    saved = read_encoder_weights(cb.weights_path)
    with warnings.catch_warnings(record=True) as w, first.no_bar(), first.no_logging():
        warnings.simplefilter('always')
        first.fit(1, 1e-3)
    assert any('without its TimeMAEPretrain callback' in str(x.message) for x in w), [str(x.message) for x in w]
    assert len(cb.history) == 1                                      # the second run's, untouched
    assert_same_state(read_encoder_weights(cb.weights_path), saved)  # and its file


def test_without_target_dir_the_encoder_goes_where_learn_save_writes(udls, tmp_path, monkeypatch):
    """fastai's `learn.save` (and `SaveModelCallback`) write to `learn.path/learn.model_dir`; the encoder went to
    `models/` under the working directory whatever the learner's `path=`. Given, `target_dir` still decides."""
    monkeypatch.chdir(tmp_path)
    cb = TimeMAEPretrain(save_every=1)
    learn = ts_learner(udls, TimeMAE, cbs=cb, path=tmp_path / 'proj', **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert cb.weights_path == tmp_path / 'proj' / 'models' / 'timemae_encoder.pth' and cb.weights_path.is_file()
    assert (tmp_path / 'proj' / 'models' / 'timemae_encoder_state.pth').is_file() and not (tmp_path / 'models').exists()
    plain = TimeMAEPretrain()
    learn = ts_learner(udls, TimeMAE, cbs=plain, **SMALL)              # tsai's default path: ./models, as before
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert plain.weights_path == Path('models') / 'timemae_encoder.pth' and plain.weights_path.is_file()
    old = TimeMAEPretrain(target_dir=tmp_path / 'old', save_every=1)  # as unpickled from a version without these
    del old.__dict__['target_dir'], old.__dict__['fname']
    learn = ts_learner(udls, TimeMAE, cbs=old, path=tmp_path / 'proj', **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)      # keeps the folder its files already had
    assert old.weights_path == tmp_path / 'old' / 'timemae_encoder.pth' and (tmp_path / 'old' / 'timemae_encoder_state.pth').is_file()
    mine = TimeMAEPretrain(target_dir=tmp_path / 'mine', fname='enc.pth')
    learn = ts_learner(udls, TimeMAE, cbs=mine, path=tmp_path / 'proj', **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert mine.weights_path == tmp_path / 'mine' / 'enc.pth'


def test_the_decoupled_encoder_takes_the_backbones_attention_dropout():
    "`attn_dropout=0` (torch's fused attention on CPU) reaches the pretraining decoder too; other dropouts stay."
    for attn, want in ((0., 0.), (None, 0.2)):
        net = TimeMAEPretrainer(TimeMAE(3, None, attn_dropout=attn, **SMALL).backbone, vocab_size=8)
        blk = net.decoder.layers[0]
        assert blk.attn.dropout == want and blk.drop1.p == 0.2


def test_span_masking_masks_one_contiguous_run_per_series():
    from tsai_timemae.pretrain import span_masking
    vis, msk = span_masking(200, 16, 0.6)
    assert msk.shape == (200, 9) and vis.shape == (200, 7)
    assert torch.equal(torch.cat([vis, msk], 1).sort(1).values, torch.arange(16).expand(200, -1))  # a partition
    assert torch.all(msk.diff(dim=1) == 1)                                 # consecutive positions
    assert len(set(msk[:, 0].tolist())) == 16 - 9 + 1                      # every start drawn


def test_without_decoupling_mask_tokens_go_through_the_encoder(udls, tmp_path):
    "The ablation (paper 4.2.7): no decoupled encoder; the visible encoder sees visible and mask tokens together."
    model = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(model.backbone, vocab_size=16, decoupled=False).eval()
    seen = []
    model.backbone.encoder.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape))
    out = pre(torch.randn(5, 3, 100))
    assert pre.decoder is None and seen[0] == (5, 10, 32)                  # 4 visible + 6 mask tokens, in one pass
    assert out['masked_reps'].shape == (5, 6, 32) and out['rep_vis'].shape == (5, 4, 32)
    learn, cb = _learner(udls, tmp_path, decoupled=False, masking='span')
    learn.fit(1, 1e-3)
    assert len(cb.history) == 1 and cb.pretrainer.masking == 'span'
    with pytest.raises(ValueError, match='masking must be one of'):
        TimeMAEPretrain(masking='blocks')


def test_validation_draws_the_same_masks_and_codes_every_pass_and_a_cut_pass_leaves_no_trace(tmp_path):
    """The validation loss is measured on the same masks at every pass, so it moves between epochs only with the
    weights: before, two validate() calls on the same weights differed by more than epochs did on a small validation
    set, and checkpoint='best' chose partly by chance. Masks drawn in evaluation outside a validation pass still come
    from torch's global stream."""
    X = np.random.default_rng(0).standard_normal((30, 2, 40)).astype('float32')
    udls = get_ts_dls(X, splits=(list(range(20)), list(range(20, 30))), bs=8)
    torch.manual_seed(0)
    learn, cb = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    first, second = learn.validate()[0], learn.validate()[0]
    assert first == second
    from tsai_timemae.plots import mask_view

    class CtrlC(Callback):  # Ctrl-C in the fit's validation: fastai sends no after_validate
        def after_batch(self):
            if not self.training: raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=CtrlC())
    views = [mask_view(learn, X[:4], seed=s)['masked'] for s in (0, 0, 1)]
    assert (views[0] == views[1]).all() and not (views[0] == views[2]).all()  # `seed` decides, as before
    torch.manual_seed(0)  # the authors' Gumbel codes: their noise is drawn from the same generator in validation
    learn, cb = _learner(udls, tmp_path / 'gumbel', tokenizer='gumbel')
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert learn.validate()[0] == learn.validate()[0]
    net = cb.pretrainer.eval()
    torch.manual_seed(1); a = net.mask(4, 5, 'cpu')[1]
    torch.manual_seed(2); b = net.mask(4, 5, 'cpu')[1]
    assert not torch.equal(a, b)  # outside a validation pass: the global stream, as before


def test_best_epoch_without_validation_is_the_lowest_mean_training_loss(tmp_path):
    """Without validation data checkpoint='best' keeps the epoch whose batches' mean loss is lowest. fastai's
    `train_loss` column is a moving average over about 50 batches: with 3 batches an epoch it lags by epochs and
    chose a later epoch than the best one, and `best` reported that lagging value. A batch cancelled before its loss
    (a user's callback skipping it) is not counted with the previous batch's loss."""
    from fastai.callback.core import CancelBatchException
    X = np.random.default_rng(0).standard_normal((24, 2, 32)).astype('float32')
    udls = get_ts_dls(X, splits=(list(range(24)), []), bs=8)
    losses = {}

    class Grab(Callback):
        order = 90
        def after_loss(self):
            if self.training: losses.setdefault(self.epoch, []).append((self.loss.item(), len(self.xb[0])))

    class Skip(Callback):
        def before_batch(self):
            if self.training and self.iter == 1: raise CancelBatchException()

    saved = []

    class Saved(Callback):
        order = 95
        def after_epoch(self): saved.append(cb.best)

    torch.manual_seed(0)
    learn, cb = _learner(udls, tmp_path, checkpoint='best')
    with learn.no_bar(), learn.no_logging(): learn.fit(6, 3e-3, cbs=[Grab(), Saved(), Skip()])
    means = [sum(l * n for l, n in v) / sum(n for _, n in v) for _, v in sorted(losses.items())]
    assert all(len(v) == 2 for v in losses.values())  # 3 batches an epoch, one skipped
    assert cb.best == pytest.approx(min(means), rel=1e-5)
    assert saved == pytest.approx([min(means[:e + 1]) for e in range(6)], rel=1e-5)  # improved exactly when the mean did


def test_pretraining_without_a_validation_set(basic_motions, tmp_path, capsys):
    """No validation split: the training loss is monitored, the loss parts are recorded, nothing fails, and the
    closing line says the best encoder was chosen by the training loss. The progress table's part columns hold the
    training epoch's values (fastai lists them but logs nothing there without validation metrics), so fastai's
    `CSVLogger` writes aligned rows and a tracker can monitor 'mcc'."""
    import csv
    from fastai.callback.progress import CSVLogger
    from fastai.callback.tracker import SaveModelCallback
    udls = get_ts_dls(basic_motions[0], splits=(list(range(40)), []), bs=10)
    learn, cb = _learner(udls, tmp_path, checkpoint='best')
    learn.path, cb.verbose = tmp_path, True
    save = SaveModelCallback(monitor='mcc', fname='best_mcc')
    with learn.no_bar(): learn.fit(2, 1e-3, cbs=[CSVLogger(fname=str(tmp_path / 'history.csv')), save])
    assert len(cb.history) == 2 and cb.weights_path.is_file() and math.isfinite(cb.best)
    assert f'Best pretrained encoder (mean training loss {cb.best:.5f}; no validation loss) is at' in capsys.readouterr().out
    names = learn.recorder.metric_names[1:-1]
    assert [len(v) for v in learn.recorder.values] == [len(names)] * 2
    rows = list(csv.DictReader(open(tmp_path / 'history.csv')))
    assert len(rows) == len(cb.history) == 2                               # the loop below compares something
    for row, h in zip(rows, cb.history):
        assert row['time'].count(':') == 1 and float(row['mcc']) == pytest.approx(h['train_mcc'])
        assert float(row['rep_std']) == pytest.approx(h['train_rep_std']) and 'mcc' not in h  # the history: train_* alone
    assert save.best == pytest.approx(min(h['train_mcc'] for h in cb.history))


# -- sizes that fit the data -------------------------------------------------------------------------------------
SMALL_NO_WINDOW = {k: v for k, v in SMALL.items() if k != 'window'}


def test_window_is_derived_from_the_series_length_when_not_given(udls, tmp_path, capsys):
    from tsai_timemae.model import auto_window
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path), **SMALL_NO_WINDOW)
    bb = learn.model.backbone
    assert udls.len == 100 and bb.window == auto_window(100) == 7            # not the fallback of 8
    assert bb.patch_embed.proj.kernel_size == (7,)
    assert 'window: 7 steps, 15 patches per series of 100 steps' in capsys.readouterr().out
    learn.fit(1, 1e-3)                                                      # trains, and the saved file says 7
    assert TimeMAE.from_pretrained(tmp_path / 'timemae_encoder.pth').window == 7


def test_a_given_window_and_a_weights_files_window_are_kept(udls, tmp_path):
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), **SMALL)
    assert learn.model.backbone.window == 10                                 # given: kept
    from tsai_timemae.weights import save_encoder_weights
    save_encoder_weights(TimeMAE(6, None, window=8, **SMALL_NO_WINDOW), tmp_path / 'w8.pth')
    learn = ts_learner(udls, TimeMAE, pretrained=True, weights_path=tmp_path / 'w8.pth', **SMALL_NO_WINDOW)
    assert learn.model.backbone.window == 8                                  # the file's architecture, not auto_window
    assert TimeMAE(6, 4).window == 8 and TimeMAE(6, 4).window_source == 'default'  # no length known: the fallback


def test_default_pretrain_epochs_is_a_number_of_steps_capped_at_100_epochs():
    from tsai_timemae.pretrain import default_pretrain_epochs
    assert default_pretrain_epochs(40, 16) == 100                           # 3 steps per epoch: the cap
    assert default_pretrain_epochs(7352, 128) == 100                        # HAR: 57 batches, 5,700 steps
    assert default_pretrain_epochs(9200, 128) == 100                        # Epilepsy: 71 batches, 7,100 steps
    assert default_pretrain_epochs(20000, 128) == 49                        # 156 batches: about 7,500 steps
    assert default_pretrain_epochs(7352, 128, steps=570) == 10                 # 57 whole batches per epoch
    with pytest.raises(ValueError, match='positive'):
        default_pretrain_epochs(0, 16)


# -- fastai's own tools beside the callback (from a walkthrough) ----------------------------------------------------
def test_fastai_trackers_monitoring_mcc_or_mrr_keep_the_lowest_and_the_file_follows_a_reload(udls, tmp_path):
    """'mcc' and 'mrr' are losses, but fastai's trackers read a name without 'loss' as higher-is-better: they now keep the
    lowest. When `SaveModelCallback` reloads its best epoch at the end, the encoder file is saved again after that
    reload, so that fine-tuning starts from the encoder the learner holds, and `cb.best` is that epoch's loss. The
    recorded `mrr` is rewritten so that the best epoch is epoch 1 of 4, not the last (where file and learner agree anyway)."""
    import numpy as np
    from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback
    from tsai_timemae.embeddings import get_embeddings

    class BestAtEpochOne(Callback):
        order = 55  # after the Recorder stored the epoch's values, before the trackers read them
        def after_epoch(self):
            names = list(self.recorder.metric_names[1:])
            self.recorder.values[-1][names.index('mrr')] = [3., 1., 2., 4.][self.epoch]

    learn, cb = _learner(udls, tmp_path)
    learn.path = tmp_path
    save = SaveModelCallback(monitor='mrr', fname='best_mrr')
    early = EarlyStoppingCallback(monitor='mcc', patience=10)
    with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3, cbs=[save, early, BestAtEpochOne()])
    assert save.comp is np.less and early.comp is np.less and save.best == 1.
    assert cb.best == pytest.approx(cb.history[1]['valid_loss'], rel=1e-6) != cb.history[-1]['valid_loss']
    xb = learn.dls.valid.one_batch()[0].cpu().numpy()  # standardized: both are bare models
    on_file, held = get_embeddings(TimeMAE.from_pretrained(cb.weights_path), xb), get_embeddings(learn.model, xb)
    np.testing.assert_allclose(on_file, held, rtol=1e-5, atol=1e-6)


def test_summary_leaves_one_encoder_saver_and_a_second_callback_with_other_settings_is_refused(udls, tmp_path):
    from tsai_timemae.pretrain import SaveEncoder
    learn, cb = _learner(udls, tmp_path)
    learn.summary()                                                  # crashed in SaveEncoder before any fit
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    learn.summary()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert sum(isinstance(c, SaveEncoder) for c in learn.cbs) == 1
    learn.remove_cb(cb)
    with pytest.raises(ValueError, match=r"built with other settings.*mask_ratio=0.6 there, 0.3 here.*tokenizer='kmeans' there, 'random_projection' here"):
        learn.fit(1, cbs=TimeMAEPretrain(mask_ratio=0.3, tokenizer='random_projection', target_dir=tmp_path, verbose=False))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False))  # same: continues


def test_one_cycle_and_flat_cos_take_the_callback_as_a_fit_argument(udls, tmp_path):
    """`fit_one_cycle(n, lr, cbs=TimeMAEPretrain())` makes its schedule for the optimizer tsai made (two groups: body
    and head) before the callback joins with one group: it gets the rates the same call gives a learner built with the
    callback (the last group's, as fastai gives one group), also for a `slice`. fine_tune() freezes the encoder first:
    pretraining unfreezes it, with a warning."""
    rates = []
    for attach in ('fit', 'ts_learner'):
        cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
        learn = ts_learner(udls, TimeMAE, **SMALL, **({'cbs': cb} if attach == 'ts_learner' else {}))
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(1, slice(1e-5, 1e-3), **({'cbs': cb} if attach == 'fit' else {}))
        assert len(learn.opt.param_lists) == 1 and len(learn.opt.param_lists[0]) == len(trainable_params(learn.model))
        rates.append(learn.recorder.hps['lr'])
    assert rates[0] == rates[1] and max(rates[0]) == pytest.approx(1e-3, rel=0.1)    # the slice's top, not its bottom
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-3, reset_opt=True)  # splitter and optimizer agree
    learn = ts_learner(udls, TimeMAE, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit_flat_cos(1, 1e-3, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False))
    learn = ts_learner(udls, TimeMAE, **SMALL)
    learn.freeze()
    with pytest.raises(ValueError, match='target_layers'):                      # refused: the classifier stays frozen
        learn.add_cb(TimeMAEPretrain(target_layers=SMALL['n_layers'] + 1, target_dir=tmp_path, verbose=False))
    assert not all(p.requires_grad for p in learn.model.backbone.parameters())
    learn = ts_learner(udls, TimeMAE, **SMALL)                                   # fine_tune freezes the body first:
    with pytest.warns(UserWarning, match=r'trains the whole encoder.*were frozen.*they train now') as said:  # it trains anyway
        with learn.no_bar(), learn.no_logging(): learn.fine_tune(1, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False))
    assert [w.filename for w in said if 'whole encoder' in str(w.message)] == [__file__]   # the user's line, once
    assert all(p.requires_grad for p in learn.model.backbone.parameters())
    assert {id(p) for g in learn.opt.param_lists for p in g} == {id(p) for p in trainable_params(learn.model)}
    from fastai.callback.schedule import ParamScheduler
    assert not any(isinstance(c, ParamScheduler) for c in learn.cbs)


def test_a_plain_fit_of_the_pretraining_network_without_its_callback_warns(udls, tmp_path):
    learn = ts_learner(udls, TimeMAE, **SMALL)
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=cb)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with pytest.warns(UserWarning, match=r'training without its TimeMAEPretrain callback.*which is not TimeMAE pretraining: on '
                                         r'unlabelled data .* the weights do not change.*to train a classifier.*finelast_learner\(dls, cb.weights_path\)') as said:
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert [w.filename for w in said if 'without its' in str(w.message)] == [__file__]  # the user's line, not torch's
    # what the warning says (it said the fit trained without the momentum target): unlabelled batches give fastai no loss
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)                  # with it: silent
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=cb)


def test_after_fit_with_the_callback_validate_and_get_preds_still_work_and_lr_find_says_what_it_needs(udls, tmp_path):
    """`fit(n, cbs=cb)` takes the callback off at the end, and its label-dropping with it: on unlabelled data
    `validate()` then returned Nones without a word, and `get_preds()` / `lr_find()` failed inside fastai (IndexError)."""
    learn = ts_learner(udls, TimeMAE, path=tmp_path, **SMALL)
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=cb)
    assert cb not in learn.cbs
    with learn.no_bar(): res = learn.validate()
    assert all(v is not None and math.isfinite(v) for v in res), res
    # the masks the callback validated with: the same loss at every call, the table's last one (they were drawn anew)
    with learn.no_bar(): assert learn.validate()[0] == res[0] == pytest.approx(cb.history[-1]['valid_loss'], rel=1e-6)
    with learn.no_bar(): preds, targets = learn.get_preds()
    assert preds['masked_reps'].shape[0] == targets.shape[0] == len(udls.valid.dataset)
    with pytest.raises(ValueError, match=r'lr_find on a TimeMAE pretraining network needs its TimeMAEPretrain callback.*learn.add_cb\(cb\)'):
        learn.lr_find(num_it=3, show_plot=False)
    with pytest.raises(TypeError, match='tta averages a classifier'):
        learn.tta()
    learn.add_cb(cb)                                                 # back: its own label-dropping only
    assert sum(type(c).__name__.startswith('DropLabels') for c in learn.cbs) == 1
    with learn.no_bar(), learn.no_logging(): learn.lr_find(num_it=3, show_plot=False)
    with learn.no_bar(): assert all(math.isfinite(v) for v in learn.validate())


def test_a_diverged_pretraining_is_named_and_never_saved(udls, tmp_path, capsys):
    """A NaN loss is never lower than the best, so nothing said a run had diverged; with checkpoint='last' the
    encoder file was overwritten with NaN weights and the closing line called it the last epoch's encoder."""
    class Diverge(Callback):  # from epoch `at` on, the encoder's weights are NaN
        def __init__(self, at=1): self.at = at
        def before_epoch(self):
            if self.epoch == self.at:
                with torch.no_grad():
                    for p in self.learn.model.backbone.parameters(): p.fill_(float('nan'))
    cb = TimeMAEPretrain(target_dir=tmp_path, checkpoint='last')
    learn = ts_learner(udls, TimeMAE, cbs=cb, path=tmp_path, **SMALL)
    with pytest.warns(UserWarning, match=r"diverged at epoch 1: train_loss nan, valid_loss nan\. No encoder is saved from "
                                         r"an epoch whose loss or weights are not finite.*Lower the learning rate") as said:
        with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3, cbs=Diverge())
    assert [w.filename for w in said if 'diverged' in str(w.message)] == [__file__]     # once, at the user's line
    saved = read_encoder_weights(cb.weights_path)
    assert all(torch.isfinite(v).all() for v in saved.values())
    assert 'The encoder saved last, before pretraining diverged at epoch 1 (validation loss' in capsys.readouterr().out
    # the next fit says so again (also after a fit that an error stopped, which sends no after_fit)
    class Stop(Callback):
        order = 90                                                   # after the callbacks that record the epoch
        def after_epoch(self): raise KeyboardInterrupt
    for _ in range(2):
        with pytest.warns(UserWarning, match='diverged at epoch 0'), pytest.raises(KeyboardInterrupt):
            with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=[Diverge(0), Stop()])
    assert_same_state(read_encoder_weights(cb.weights_path), saved)
    cb2 = TimeMAEPretrain(target_dir=tmp_path / 'best', checkpoint='best')
    learn = ts_learner(udls, TimeMAE, cbs=cb2, path=tmp_path, **SMALL)
    with learn.no_bar(), learn.no_logging():
        with pytest.warns(UserWarning, match=r"diverged at epoch 0"): learn.fit(2, 1e-3, cbs=Diverge(0))
    assert cb2.weights_path is None                                  # no epoch had a finite loss: no file
    with pytest.raises(ValueError, match='a diverged run saves none'):
        finelast_learner(udls, cb2.weights_path)


def test_the_divergence_check_takes_a_fit_without_a_validation_loss(udls, basic_motions, tmp_path):
    "fastai logs None as valid_loss when a learner with validation metrics is given data without validation batches."
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    learn = ts_learner(udls, TimeMAE, cbs=cb, path=tmp_path, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    learn.dls = get_ts_dls(basic_motions[0], bs=10)                  # all series for training, none for validation
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert cb.history[-1]['valid_loss'] is None and math.isfinite(cb.history[-1]['train_loss'])


def test_lr_find_and_tta_see_through_a_data_parallel_wrapper(udls, tmp_path):
    learn = ts_learner(udls, TimeMAE, path=tmp_path, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False))
    learn.model = torch.nn.DataParallel(learn.model)                 # as a data-parallel fit wraps it
    with pytest.raises(ValueError, match='lr_find on a TimeMAE pretraining network needs'): learn.lr_find(num_it=3, show_plot=False)
    with pytest.raises(TypeError, match='tta averages'): learn.tta()


def test_get_X_preds_of_a_pretraining_learner_on_labelled_data(dls, tmp_path, basic_motions):
    "tsai decodes predictions with the labels' vocabulary, which fails on pretraining outputs: they come back as they are."
    learn, _ = _learner(dls, tmp_path)
    X = basic_motions[0][:6]
    from fastai.torch_core import set_seed
    learn.get_X_preds(X, with_decoded=False)                          # the first call fits the k-means tokenizer
    set_seed(0); preds, _, dec = learn.get_X_preds(X)
    set_seed(0); plain = learn.get_X_preds(X, with_decoded=False)[0]  # the path that always worked
    for k in ('masked_reps', 'target_reps', 'logits'):               # read by name, as the README says, one row per series
        assert preds[k].shape[0] == 6 and torch.allclose(preds[k], plain[k])


def test_get_preds_with_loss_gives_one_pretraining_loss_per_series(udls, tmp_path, basic_motions):
    "fastai asks the loss for `reduction='none'`: one loss per series, whose mean is the batch's loss."
    learn, _ = _learner(udls, tmp_path, shared_mask=True)
    torch.manual_seed(0)
    *_, losses = learn.get_preds(with_loss=True)
    assert losses.shape == (len(udls.valid_ds),) and torch.isfinite(losses).all()
    *_, losses = learn.get_X_preds(basic_motions[0][:5], with_loss=True)  # needs no targets: not dropped
    assert losses.shape == (5,)
    xb = udls.valid.one_batch()[0]
    learn.model.eval()
    torch.manual_seed(1); out = learn.model(xb)
    per = learn.loss_func.__class__(**{k: getattr(learn.loss_func, k) for k in ('alpha', 'beta', 'gamma', 'label_smoothing')})
    mean = per(out)
    per.reduction = 'none'
    assert torch.allclose(per(out).mean(), mean, rtol=1e-5)
    # each series' own loss, not the batch's copied to every series (which the mean above cannot tell apart)
    import torch.nn.functional as F
    mcc = -(out['targets'].float() * F.log_softmax(out['logits'].float(), -1)).sum(-1).mean(-1)
    mrr = (out['masked_reps'].float() - out['target_reps'].float()).pow(2).mean((1, 2))
    assert torch.allclose(per(out), per.alpha * mcc + per.beta * mrr, rtol=1e-5) and per(out).unique().numel() > 1
    assert losses.unique().numel() > 1


@pytest.mark.parametrize('view', ['show_results', 'show_probas', 'plot_confusion_matrix',
                                  'feature_importance', 'step_importance', 'interpretation'])
def test_classifier_views_of_a_pretraining_learner_point_to_show_masks(udls, tmp_path, view):
    "tsai's and fastai's views of a classifier's predictions gave raw errors ('PretrainOutput' has no attribute 'ndim')."
    from fastai.interpret import ClassificationInterpretation
    learn, _ = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    call = (lambda: ClassificationInterpretation.from_learner(learn)) if view == 'interpretation' else getattr(learn, view)
    with pytest.raises(TypeError, match=r'predicts masked patches, not classes.*show_masks\(learn, X\)'):
        call()


def test_the_callback_state_survives_a_validate_inside_the_fit_and_an_error_leaves_no_stale_flag(udls, tmp_path):
    """A user's callback that calls `learn.validate()` after each epoch must not cut the fit's history or make the
    fit look callback-less; a fit stopped by an error (no after_fit) must not leave the network marked as fitted by a
    callback that has left, or a later plain fit would train silently."""
    import warnings
    learn = ts_learner(udls, TimeMAE, **SMALL)
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)

    class ValidateEachEpoch(Callback):
        order = 70
        def after_epoch(self):
            if not self.learn.lock.locked(): self.learn.validate()  # not again from the validation's own after_epoch
    with warnings.catch_warnings():
        warnings.simplefilter('error', UserWarning)
        with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-3, cbs=[cb, ValidateEachEpoch()])
    assert [h['epoch'] for h in cb.history] == [0, 1, 2]

    class Boom(Callback):
        def after_epoch(self): raise RuntimeError('boom')
    with pytest.raises(RuntimeError, match='boom'):
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=[cb, Boom()])
    with pytest.warns(UserWarning, match='training without its TimeMAEPretrain callback'):
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)


def test_settings_that_only_the_construction_knows_are_compared_too(udls, tmp_path):
    learn, cb = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    learn.remove_cb(cb)
    with pytest.raises(ValueError, match=r'dropout=None there, 0.5 here'):
        learn.fit(1, cbs=TimeMAEPretrain(decoder_dropout=0.5, target_dir=tmp_path, verbose=False))


def test_the_closing_line_names_the_encoder_the_file_ends_with(udls, tmp_path, capsys):
    """With a `SaveModelCallback` that reloads its best epoch, the file is saved again after the reload, and the
    message says so: not also 'Last epoch's encoder ... is at <file>' first, about a file that then changed."""
    from fastai.callback.tracker import SaveModelCallback
    learn = ts_learner(udls, TimeMAE, **SMALL, path=tmp_path, cbs=TimeMAEPretrain(target_dir=tmp_path))
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3)
    out = capsys.readouterr().out
    assert "Last epoch's pretrained encoder" in out and 'reloaded its best epoch' not in out
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3, cbs=SaveModelCallback(monitor='valid_loss'))
    out = capsys.readouterr().out
    assert "Last epoch's pretrained encoder" not in out and 'reloaded its best epoch' in out


def test_summary_saves_nothing_and_is_not_a_fit_of_the_resume_state(udls, tmp_path, capsys):
    """fastai's `summary()` sends before_fit, after_epoch and after_fit through `with learn:`. Before a fit it crashed
    in the resume state's callback; after one, it saved the encoder under a loss that was no epoch's (the `mcc` column
    of its one-batch row), lowered `best` so that better epochs were no longer saved, wrote epoch 0's resume state and
    counted itself as a fit, so that resuming skipped the real one."""
    cb = TimeMAEPretrain(target_dir=tmp_path, checkpoint='best', save_every=1, resume=True)
    learn = ts_learner(udls, TimeMAE, cbs=cb, **SMALL)
    learn.summary()                                               # before any fit: 'NoneType' has no attribute 'hypers'
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3)
    state = cb.state_saver.path
    files, best, fit_no = {p: _sha(p) for p in (cb.weights_path, state)}, cb.saver.best, cb.state_saver.fit_no
    capsys.readouterr()
    learn.summary()
    out = capsys.readouterr().out
    assert 'Better model' not in out and 'pretrained encoder' not in out
    assert {p: _sha(p) for p in files} == files and cb.saver.best == best and cb.state_saver.fit_no == fit_no == 1
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)       # the next fit still saves a better epoch
    assert cb.state_saver.fit_no == 2 and _sha(state) != files[state]


def test_a_fit_inside_a_with_learn_block_still_saves_its_encoder(udls, tmp_path):
    "The block's own before_fit is not a fit, but it must not switch the encoder's saver off for the fit inside it."
    learn, cb = _learner(udls, tmp_path)
    with learn, learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert cb.weights_path is not None and cb.weights_path.is_file() and cb.saver.best < float('inf')


def test_classifier_views_of_a_timemae_classifier_still_work(dls):
    "The guard passes a classifier through to tsai's and fastai's own views."
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from fastai.interpret import ClassificationInterpretation
    learn = ts_learner(dls, TimeMAE, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    with learn.no_bar():
        learn.show_probas()
        ClassificationInterpretation.from_learner(learn).plot_confusion_matrix()
    plt.close('all')


def test_lr_find_with_a_callback_that_validates_each_epoch_saves_nothing(udls, tmp_path):
    "The validate()'s own after_fit switches the encoder's saver back on inside lr_find: it crashed (IndexError)."
    learn, cb = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    before, n = _sha(cb.weights_path), len(cb.history)

    class ValidateEachEpoch(Callback):
        order = 70
        def after_epoch(self):
            if not self.learn.lock.locked(): self.learn.validate()
    learn.add_cb(ValidateEachEpoch())
    with learn.no_bar(), learn.no_logging(): learn.lr_find(num_it=12, show_plot=False, suggest_funcs=())
    assert _sha(cb.weights_path) == before and len(cb.history) == n


def test_top_losses_ranks_series_by_their_pretraining_loss(udls, tmp_path):
    "Not a classifier's view: tsai sorts the one pretraining loss per series that get_X_preds gives."
    learn, _ = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    import numpy as np
    X = np.asarray(udls.valid.one_batch()[0].cpu())[:6]
    with learn.no_bar(): losses, idx = learn.top_losses(X, np.zeros(len(X)), k=3)
    assert len(losses) == 3 and len(set(map(int, idx))) == 3 and (losses[:-1] >= losses[1:]).all()
    assert losses.unique().numel() > 1                                     # the series' own losses, not one copied


def test_a_fit_after_an_interrupted_lr_find_saves_its_encoder(udls, tmp_path):
    "An interrupted lr_find never sent the after_fit that switched the encoder's saver back on: the next fit saved nothing."
    learn, cb = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    before = _sha(cb.weights_path)

    class Interrupt(Callback):
        def after_batch(self):
            if hasattr(self.learn, 'lr_finder') and self.iter == 2: raise KeyboardInterrupt
    learn.add_cb(Interrupt())
    with pytest.raises(KeyboardInterrupt):
        with learn.no_bar(), learn.no_logging(): learn.lr_find(num_it=12, show_plot=False)
    learn.remove_cb(Interrupt)
    assert _sha(cb.weights_path) == before
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert _sha(cb.weights_path) != before


def test_a_network_unpickled_from_before_fixed_validation_draws_still_evaluates(udls, tmp_path):
    "A pretraining network pickled by an earlier version has no fixed-draw attributes: evaluation reads the global stream."
    learn, cb = _learner(udls, tmp_path, tokenizer='gumbel')  # no tokenizer to fit before the forward
    net = learn.model
    for k in ('_eval_seed', '_eval_gen'): net.__dict__.pop(k, None)
    net.eval()
    with torch.no_grad(): out = net(torch.randn(2, *udls.one_batch()[0].shape[1:]))
    assert out['ids_msk'].shape[0] == 2


def test_without_validation_metrics_the_encoder_is_saved_by_the_training_loss(udls, tmp_path):
    """tsai's `ts_learner(..., valid_metrics=False)` logs no `valid_loss` although there is a validation split:
    `SaveEncoder` watched that column, so no encoder file was ever written and nothing said so."""
    for checkpoint in ('last', 'best'):
        cb = TimeMAEPretrain(target_dir=tmp_path / checkpoint, verbose=False, checkpoint=checkpoint)
        learn = ts_learner(udls, TimeMAE, cbs=cb, path=tmp_path, valid_metrics=False, **SMALL)
        with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-3)
        assert cb.weights_path is not None and Path(cb.weights_path).is_file(), checkpoint


def test_the_history_s_training_loss_is_the_epoch_s_mean_like_its_parts(udls, tmp_path):
    """The history's `train_loss` copied fastai's moving average, which lags when an epoch has few batches, so a row's
    `train_loss` did not add up from its own `train_mcc` and `train_mrr` (exact means over the epoch's series)."""
    learn, cb = _learner(udls, tmp_path, alpha=1., beta=2.)
    with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3)
    for row in cb.history:
        assert row['train_loss'] == pytest.approx(row['train_mcc'] + 2 * row['train_mrr'], rel=1e-5)
        assert 'train_loss_smooth' in row
    assert any(r['train_loss'] != pytest.approx(r['train_loss_smooth'], rel=1e-3) for r in cb.history[1:])


def test_without_validation_the_tables_training_loss_is_the_mean_its_parts_and_the_saved_lines_give(udls, tmp_path):
    """Without validation the table's `mcc` and `mrr` are the epoch's exact training means, but `train_loss` stayed
    fastai's moving average (lagging on an epoch of 2 batches): a row did not add up, and the loss the saved-encoder
    line quoted appeared nowhere in the table."""
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False, checkpoint='best', alpha=1., beta=2.)
    learn = ts_learner(udls, TimeMAE, cbs=cb, path=tmp_path, valid_metrics=False, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(4, 1e-3)
    names = learn.recorder.metric_names[1:-1]
    for values, row in zip(learn.recorder.values, cb.history):
        shown = dict(zip(names, values))
        assert shown['train_loss'] == pytest.approx(row['train_loss'], rel=1e-6)
        assert shown['train_loss'] == pytest.approx(shown['mcc'] + 2 * shown['mrr'], rel=1e-5)
    assert cb.best == pytest.approx(min(dict(zip(names, v))['train_loss'] for v in learn.recorder.values), rel=1e-6)


def test_a_second_pretraining_into_the_same_file_says_so(udls, tmp_path):
    """Two `TimeMAEPretrain()` of one session (comparing settings) share the default file: the first callback's
    weights_path then named the second run's encoder, and fine-tuning "from the first" loaded the second's silently."""
    import warnings
    from tsai_timemae.notices import TimeMAEWarning
    first = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    a = ts_learner(udls, TimeMAE, cbs=first, path=tmp_path, **SMALL)
    with a.no_bar(), a.no_logging(): a.fit(1, 1e-3)
    second = TimeMAEPretrain(target_dir=tmp_path, verbose=False, mask_ratio=0.4)
    b = ts_learner(udls, TimeMAE, cbs=second, path=tmp_path, **SMALL)
    with pytest.warns(TimeMAEWarning, match=r'holds the encoder another TimeMAEPretrain of this session saved.*fname=') as rec:
        with b.no_bar(), b.no_logging(): b.fit(2, 1e-3)
    assert sum('another TimeMAEPretrain' in str(r.message) for r in rec) == 1 and rec[0].filename == __file__
    with warnings.catch_warnings():                       # its own file again, or another file: nothing to say
        warnings.simplefilter('error', TimeMAEWarning)
        with b.no_bar(), b.no_logging(): b.fit(1, 1e-3)
        third = TimeMAEPretrain(target_dir=tmp_path, fname='other', verbose=False)
        c = ts_learner(udls, TimeMAE, cbs=third, path=tmp_path, **SMALL)
        with c.no_bar(), c.no_logging(): c.fit(1, 1e-3)


def test_a_pretraining_rerun_after_the_earlier_learner_was_dropped_says_nothing(udls, tmp_path):
    """A notebook cell or a loop re-making the learner and its callback with the default file: the earlier one is no
    longer referenced, yet the check's own reference kept it alive through its collection, and every rerun warned
    that the file 'holds the encoder another TimeMAEPretrain of this session saved'."""
    import gc
    import warnings
    from tsai_timemae.notices import TimeMAEWarning
    def pretrain():
        learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), path=tmp_path, **SMALL)
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    gc.disable()  # as long-lived objects, which Python's automatic collections rarely reach: only the check's own frees it
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', TimeMAEWarning)
            for _ in range(2): pretrain()
    finally: gc.enable()


def test_summary_leaves_one_of_each_helper_and_the_callback_can_be_removed_and_given_again(udls, tmp_path):
    """fastai's `summary()` takes the trackers (the encoder's saver) off and puts them back; the pretraining callback had
    put its saver back already, so the list held it twice ("SaveEncoder" twice in the summary), and after
    `remove_cb` the next `fit(cbs=cb)` crashed in the detached copy ('NoneType' object has no attribute 'dls')."""
    learn, cb = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    text = str(learn.summary())
    names = [type(c).__name__ for c in learn.cbs]
    assert names.count('SaveEncoder') == 1 and len(names) == len(set(names)), names
    assert text.count('SaveEncoder') == 1, text
    learn.remove_cb(cb)
    assert not any(c is cb.saver for c in learn.cbs)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=cb)
    assert len(cb.history) == 2 and cb.weights_path.is_file()


def test_checkpoint_best_says_when_a_save_model_callback_reloads_another_epoch_into_the_learner(udls, tmp_path, capsys):
    """With `checkpoint='best'` and fastai's `SaveModelCallback` on another column, the learner held the tracker's epoch
    and the file the lowest loss's, and nothing said so (the docs said the file is written again from the reloaded one)."""
    from fastai.callback.tracker import SaveModelCallback
    from fastai.torch_core import set_seed
    set_seed(1, reproducible=True)
    cb = TimeMAEPretrain(target_dir=tmp_path, checkpoint='best')
    learn = ts_learner(udls, TimeMAE, cbs=[cb, SaveModelCallback(monitor='mcc_acc', fname='by_acc')], path=tmp_path, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(4, 5e-2)
    out = capsys.readouterr().out
    file_epoch = int(np.argmin([h['valid_loss'] for h in cb.history]))
    tracker_epoch = int(np.argmax([h['mcc_acc'] for h in cb.history]))
    assert file_epoch != tracker_epoch, 'the setting no longer shows two epochs: choose another seed or rate'
    assert (f'SaveModelCallback reloaded epoch {tracker_epoch} (mcc_acc' in out
            and f"keeps epoch {file_epoch}, the lowest valid_loss (checkpoint='best')" in out), out
    saved = read_encoder_weights(cb.weights_path)
    assert not all(torch.equal(v, learn.model.state_dict()[k]) for k, v in saved.items())  # as the line says


def test_the_window_message_says_when_batch_transforms_changed_the_series_length(basic_motions, splits, tmp_path, capsys):
    "A crop among the batch transforms: the window came from 60-step batches, and the line called them series of 60 steps."
    from tsai.data.transforms import TSRandomResizedCrop
    udls = get_ts_dls(basic_motions[0], splits=splits, batch_tfms=[TSRandomResizedCrop(size=60)], bs=10)
    learn = ts_learner(udls, TimeMAE, cbs=TimeMAEPretrain(target_dir=tmp_path), **{k: v for k, v in SMALL.items() if k != 'window'})
    out = capsys.readouterr().out
    assert learn.model.backbone.window == 5 and ("per series of 60 steps (the training batches' length: the batch "
                                                 'transforms make the 100-step series that long; derived') in out, out


def test_freeze_on_a_pretraining_learner_says_it_freezes_nothing(udls, dls, tmp_path):
    "fastai's freeze() gave the one parameter group of the pretraining network back unfrozen, without a word."
    import warnings
    from tsai_timemae.all import fineall_learner
    from tsai_timemae.notices import TimeMAEWarning
    learn, cb = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    for freeze in (learn.freeze, lambda: learn.freeze_to(1)):        # freeze_to(1) froze the whole one group
        with pytest.warns(TimeMAEWarning, match=r'nothing is frozen, and fine_tune runs two whole pretraining fits') as seen:
            freeze()
        assert [w.filename for w in seen if issubclass(w.category, TimeMAEWarning)] == [__file__]
        assert all(p.requires_grad for p in learn.model.backbone.parameters()) and learn.opt.frozen_idx == 0
    with warnings.catch_warnings():
        warnings.simplefilter('error', TimeMAEWarning)
        learn.unfreeze()                                            # freeze_to(0): nothing to say
        fineall_learner(dls, cb.weights_path).freeze()              # a classifier's freeze is fastai's, unchanged


def test_a_classifier_loss_on_the_pretraining_network_is_refused_with_the_learners_that_make_one(dls, tmp_path):
    "After remove_cb, a classifier's loss set by hand failed inside it: 'PretrainOutput' object has no attribute 'view'."
    from fastai.losses import CrossEntropyLossFlat
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    learn = ts_learner(dls, TimeMAE, cbs=cb, path=tmp_path, **SMALL)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    learn.remove_cb(cb)
    learn.loss_func = CrossEntropyLossFlat()
    with pytest.raises(ValueError, match=r'(?s)loss_func=CrossEntropyLossFlat it cannot train a classifier in place.*'
                                         r'finelast_learner\(dls, cb.weights_path\)'):
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    for evaluation in (learn.validate, learn.get_preds):              # they compute the loss too
        with pytest.raises(ValueError, match=r'cannot train a classifier in place'): evaluation()
    learn.loss_func = cb.pretrain_loss                                # its own loss: validate still gives it
    assert len(learn.validate()) > 1
    # a classifier put into the learner by hand: the callback left behind no longer speaks for it, nor drops its labels
    learn.model, learn.loss_func = TimeMAE.from_pretrained(cb.weights_path, c_out=dls.c), CrossEntropyLossFlat()
    learn.create_opt()
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert len(learn.validate()) == 1 + len(learn.metrics)


def test_an_error_as_validate_starts_leaves_the_learner_usable(tmp_path):
    """fastai enters its validation context (no logging, the learner's lock) before the callbacks' before_fit: an error
    there (NaN in the data, named by the pretraining callback) left the lock held, so the next validate() or
    get_preds() waited for ever, and the logger off, so later fits printed no table."""
    import threading
    X = np.random.default_rng(0).standard_normal((16, 2, 32)).astype('float32')
    X[0, 0, 3] = np.nan
    learn = ts_learner(get_ts_dls(X, splits=(list(range(12)), list(range(12, 16))), bs=4), TimeMAE,
                       cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False), window=4, d_model=8, n_layers=1, n_heads=1, d_ff=16)
    logger = learn.logger
    for call in (learn.validate, learn.get_preds, learn.validate):
        done = []
        t = threading.Thread(target=lambda: done.append(pytest.raises(ValueError, call).value), daemon=True)
        t.start(); t.join(60)
        assert done and 'NaN or inf' in str(done[0]), 'validate() hung: the lock of the failed call was still held'
        assert not learn.lock.locked() and learn.logger is logger
