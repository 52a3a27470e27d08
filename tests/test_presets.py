"""The authors' recipe as a preset: gated post-norm blocks, their initialisation, their momentum target."""
import pytest
import torch
from tsai.all import ts_learner

from tsai_timemae.all import (TimeMAE, TimeMAEPretrain, TimeMAEPretrainer, adamw_opt_func, authors_preset,
                              fineall_learner, read_encoder_weights)
from tsai_timemae.weights import encoder_config
from conftest import SMALL


def test_gated_blocks_start_as_layer_norm_of_the_input():
    m = TimeMAE(3, None, **SMALL, residual_gain=True, dropout=0.).eval()
    layer = m.backbone.encoder.layers[0]
    x = torch.randn(2, 7, 32)
    assert torch.allclose(layer(x), torch.nn.functional.layer_norm(torch.nn.functional.layer_norm(x, (32,)), (32,)), atol=1e-5)


def test_authors_init_and_gains_are_in_the_saved_encoder_and_rebuild(udls, dls, tmp_path, seed):
    preset = authors_preset()
    arch = {**preset['arch'], **{k: SMALL[k] for k in ('window', 'd_model', 'n_layers', 'n_heads', 'd_ff')}}
    pre_kw = {**preset['pretrain'], 'vocab_size': 16}
    cb = TimeMAEPretrain(**pre_kw, target_dir=tmp_path, checkpoint='last', verbose=False)
    learn = ts_learner(udls, TimeMAE, cbs=cb, opt_func=adamw_opt_func(), **arch)
    sd = learn.model.state_dict()
    assert abs(float(sd['backbone.pos_embed'].std()) - 1) < 0.05                 # N(0, 1) position table
    assert torch.allclose(sd['backbone.encoder.layers.0.linear1.bias'], torch.full((SMALL['d_ff'],), 0.1))
    assert hasattr(cb.pretrainer.decoder.layers[0], 'gain1') and cb.pretrainer.shared_mask
    learn.fit(2, 1e-3)
    w = read_encoder_weights(cb.weights_path)
    assert encoder_config(w)['residual_gain'] is True
    ft = fineall_learner(dls, cb.weights_path)                                    # rebuilt from the file alone
    assert hasattr(ft.model.backbone.encoder.layers[0], 'gain1')
    head = ft.model.head[-1]                                                    # the authors' init reaches the classifier
    assert isinstance(head, torch.nn.Linear) and torch.allclose(head.bias, torch.full_like(head.bias, 0.1))
    assert torch.equal(ft.model.backbone.encoder.layers[0].gain1, w['backbone.encoder.layers.0.gain1'])


def test_authors_target_keeps_dropout_on_in_training():
    """The momentum encoder runs with dropout on while pretraining trains (their code); the online embeddings it reads
    are checked in test_mcc_mrr.py (test_target_embed_online_uses_the_online_embeddings)."""
    m = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(m.backbone, vocab_size=8, target_dropout=True, target_embed='online').train()
    assert pre.target.training
    pre.eval(); assert not pre.target.training
    default = TimeMAEPretrainer(m.backbone, vocab_size=8).train()
    assert not default.target.training


def test_adamw_opt_func_is_torchs_adamw_defaults():
    opt = adamw_opt_func()([torch.nn.Parameter(torch.zeros(2))], lr=1e-3)
    h = opt.hypers[0]
    assert h['mom'] == 0.9 and h['sqr_mom'] == 0.999 and h['eps'] == 1e-8 and h['wd'] == 0.01
    # and it steps as torch's AdamW does: decoupled weight decay, not an L2 term in the gradient (same hypers, other steps)
    grads = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    ours, theirs = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    a, b = adamw_opt_func()([ours], lr=1e-1), torch.optim.AdamW([theirs], lr=1e-1, weight_decay=0.01)
    for g in grads:
        ours.grad, theirs.grad = g.clone(), g.clone()
        a.step(); b.step()
    assert torch.allclose(ours, theirs, atol=1e-6), (ours, theirs)


def test_bad_init_name_is_a_clear_error():
    with pytest.raises(ValueError, match='init_scheme'):
        TimeMAE(3, None, init_scheme='xavier')


def test_authors_feed_forward_drops_the_output_twice_not_the_hidden_layer():
    from tsai_timemae.model import ff_dropouts
    assert ff_dropouts(0.2, 'hidden') == (0.2, 0.2) and ff_dropouts(0.2, 'output_twice') == pytest.approx((0., 0.36))
    m = TimeMAE(3, None, **SMALL, dropout=0.2, ff_dropout='output_twice')
    layer = m.backbone.encoder.layers[0]
    assert layer.dropout.p == 0 and layer.dropout2.p == pytest.approx(0.36) and layer.dropout1.p == 0.2
    pre = TimeMAEPretrainer(m.backbone, vocab_size=8, dropout=0.1)
    block = pre.decoder.layers[0]
    assert block.ff[2].p == 0 and block.drop2.p == pytest.approx(0.19) and block.drop1.p == 0.1
    with pytest.raises(ValueError, match='ff_dropout'):
        TimeMAE(3, None, ff_dropout='inside')


def test_the_preset_pins_every_training_setting_so_library_defaults_cannot_change_it():
    "A setting left to the library's default drifts with it: `normalize_targets` did (session 19)."
    import inspect
    from tsai_timemae.presets import NOT_RECIPE
    preset = authors_preset()
    for part, cls in (('arch', TimeMAE), ('pretrain', TimeMAEPretrain)):
        params = set(inspect.signature(cls.__init__).parameters)
        assert params - NOT_RECIPE[part] - set(preset[part]) == set(), f'{cls.__name__} settings the preset leaves to defaults'
        assert set(preset[part]) <= params
    assert preset['pretrain']['normalize_targets'] is False and preset['pretrain']['momentum_end'] is None
    assert TimeMAEPretrain(**preset['pretrain'], verbose=False).net_kwargs['normalize_targets'] is False


def test_the_preset_holds_the_authors_values():
    """Every value, as the authors' public code has it (../shared/design/authors_recipe.md; their args.py, loss.py,
    process.py): the tests above only check that each setting has a key, so a changed value passed."""
    assert authors_preset() == {
        'arch': {'window': 8, 'd_model': 64, 'n_layers': 8, 'n_heads': 4, 'd_ff': 256,  # args: wave_length, d_model, layers, attn_heads
                 'dropout': 0.2, 'attn_dropout': 0.2,            # dropout 0.2, also on the attention probabilities
                 'ff_dropout': 'output_twice',                   # their feed-forward drops its output, then the block again
                 'residual_gain': True, 'pre_norm': False,       # LN(x + drop(a * f(x))), a initialised at 1e-8
                 'init_scheme': 'authors', 'max_seq_len': 8192},  # Xavier-normal Linear weights, bias 0.1; N(0, 1) tables
        'pretrain': {'mask_ratio': 0.6, 'masking': 'random', 'shared_mask': True,  # one random mask per batch
                     'tokenizer': 'gumbel', 'vocab_size': 192, 'tokenizer_kwargs': {'tau': 1.0},  # Gumbel-softmax, tau 1
                     'alpha': 1.0, 'beta': 5.0, 'gamma': 0.0,     # loss: 5 x MSE (MRR) + 1 x CE (MCC); their alpha is our beta
                     'label_smoothing': 0.2,                      # CE with label smoothing 0.2
                     'momentum': 0.99, 'momentum_end': None,      # EMA after every step, tau 0.99
                     'target_embed': 'online', 'target_dropout': True, 'target_context': 'masked',  # the masked patches alone
                     'target_layers': 1, 'normalize_targets': False, 'mrr_loss': 'mse',  # mean squared error, raw targets
                     'masks_per_series': 1,                        # one mask per series a step
                     'n_decoder_layers': 4, 'decoder_dropout': 0.1, 'decoupled': True,  # 4 cross-attention blocks, dropout 0.1
                     'init_scheme': 'authors'},
        'fit': {'bs': 128, 'lr': 1e-3, 'epochs': 100, 'schedule': 'constant', 'optimizer': 'adamw', 'wd': 0.01,
                'wd_bn_bias': True, 'drop_last': False, 'standardize': False}}   # AdamW, constant lr, no input scaling


def test_authors_init_covers_the_default_head_and_leaves_a_given_head_alone():
    "Their code initialises its classifier's Linear as every other (Xavier-normal, bias 0.1); it was left at torch's."
    torch.manual_seed(0)
    head = TimeMAE(3, 5, **SMALL, init_scheme='authors').head[-1]
    assert torch.allclose(head.bias, torch.full((5,), 0.1))
    xavier_std = (2 / (SMALL['d_model'] + 5)) ** 0.5
    assert abs(float(head.weight.std()) / xavier_std - 1) < 0.3
    assert not torch.allclose(TimeMAE(3, 5, **SMALL).head[-1].bias, torch.full((5,), 0.1))  # torch's init by default
    given = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(SMALL['d_model'], 5))
    kept = given[1].bias.detach().clone()
    assert torch.equal(TimeMAE(3, 5, **SMALL, init_scheme='authors', custom_head=given).head[1].bias, kept)
