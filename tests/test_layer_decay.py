"""Discriminative learning rates for fine-tuning: `timemae_splitter` (one parameter group per block) reaches the
learner despite tsai's own splitter, and `layer_decay` gives each group down from the head `decay` times the rate."""
import numpy as np
import pytest
import torch

from tsai_timemae.all import (TimeMAE, fineall_learner, finelast_learner, layer_decay, save_encoder_weights,
                              timemae_learner, timemae_splitter)
from conftest import SMALL


@pytest.fixture
def weights(tmp_path):
    return save_encoder_weights(TimeMAE(6, None, **SMALL), tmp_path / 'enc.pth')


def test_groups_are_embeddings_each_block_then_head_and_cover_every_parameter_once():
    m = TimeMAE(6, 4, **{**SMALL, 'n_layers': 3})
    groups = timemae_splitter(m)
    assert len(groups) == 3 + 2
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in m.parameters()}
    name = {id(p): n for n, p in m.named_parameters()}
    assert {name[id(p)] for p in groups[0]} == {'backbone.pos_embed', 'backbone.patch_embed.proj.weight',
                                                'backbone.patch_embed.proj.bias'}
    for i, g in enumerate(groups[1:-1]):
        assert {name[id(p)].split('.')[3] for p in g} == {str(i)}           # backbone.encoder.layers.<i>.*
    assert all(name[id(p)].startswith('head.') for p in groups[-1])
    assert len(timemae_splitter(TimeMAE(6, None, **SMALL))) == SMALL['n_layers'] + 1  # no head, no head group


@pytest.mark.parametrize('make', [timemae_learner, fineall_learner, finelast_learner])
def test_the_splitter_given_is_the_one_the_optimizer_uses(dls, weights, make):
    "ts_learner replaces any splitter of a model with a backbone and a head by its own two groups; this one stays."
    args = (dls,) if make is timemae_learner else (dls, weights)
    arch = SMALL if make is timemae_learner else dict(n_heads=2)
    learn = make(*args, **arch, splitter=timemae_splitter)
    learn.create_opt()
    assert learn.splitter is timemae_splitter and len(learn.opt.param_groups) == SMALL['n_layers'] + 2
    learn = make(*args, **arch)
    learn.create_opt()
    assert len(learn.opt.param_groups) == 2                                 # tsai's encoder / head, unchanged


@pytest.fixture
def dls3(basic_motions, splits):
    "BasicMotions' accelerometer alone (3 of its 6 channels): data an encoder of 6 channels transfers to with reinit."
    from tsai.data.core import TSClassification, get_ts_dls
    X, y = basic_motions[:2]
    return get_ts_dls(X[:, :3], y, splits=splits, tfms=[None, TSClassification()], bs=10)


def test_with_reinit_the_new_parameters_train_at_the_heads_rate(dls3, weights):
    "A re-initialised patch embedding is not pretrained: it joins the head's group, not the embeddings' lowest rate."
    learn = fineall_learner(dls3, weights, n_heads=2, reinit='patch_embed', splitter=timemae_splitter)
    learn.create_opt()
    groups = learn.opt.param_lists
    assert len(groups) == SMALL['n_layers'] + 2
    pe = learn.model.backbone.patch_embed.proj
    assert [id(p) for p in groups[0]] == [id(learn.model.backbone.pos_embed)]   # kept: same window
    assert {id(pe.weight), id(pe.bias)} <= {id(p) for p in groups[-1]}
    learn.opt.set_hyper('lr', layer_decay(learn, 1e-3, 0.5))
    assert learn.opt.hypers[-1]['lr'] == pytest.approx(1e-3) and learn.opt.hypers[0]['lr'] == pytest.approx(1.25e-4)
    # FineLast: the new patch embedding (in the head's group, above) is the only encoder part that trains
    learn = finelast_learner(dls3, weights, n_heads=2, reinit='patch_embed', splitter=timemae_splitter)
    pe_before = learn.model.backbone.patch_embed.proj.weight.detach().clone()
    pos = learn.model.backbone.pos_embed.detach().clone()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, layer_decay(learn, 1e-2, 0.5))
    assert not torch.equal(learn.model.backbone.patch_embed.proj.weight, pe_before)
    assert torch.equal(learn.model.backbone.pos_embed, pos)
    # a new window renews the position table too: every embedding is new, so the embeddings' group is empty
    learn = fineall_learner(dls3, weights, n_heads=2, window=5, reinit='patch_embed', splitter=timemae_splitter)
    learn.create_opt()
    assert len(learn.opt.param_lists) == SMALL['n_layers'] + 1
    with pytest.raises(ValueError, match='fresh names parameters the encoder does not have'):
        timemae_splitter(learn.model, fresh=['patch_embed.weight'])


def test_each_group_down_from_the_head_gets_decay_times_the_rate(dls, weights):
    learn = fineall_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
    lr = layer_decay(learn, 1e-3, 0.5)
    assert lr == slice(1e-3 * 0.5 ** 3, 1e-3)                              # 4 groups: embeddings, 2 blocks, head
    learn.create_opt()
    learn.opt.set_hyper('lr', lr)                                           # what fit_one_cycle does with a slice
    got = [h['lr'] for h in learn.opt.hypers]
    assert got == pytest.approx([1.25e-4, 2.5e-4, 5e-4, 1e-3])
    assert layer_decay(learn, 1e-3, 1) == slice(1e-3, 1e-3)


def test_layer_decay_moves_the_embeddings_less_than_the_last_block(dls, weights):
    "With a strong decay the lowest group barely trains; without one it trains at the head's rate."
    def moved(decay):
        torch.manual_seed(0)
        learn = fineall_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
        bb = learn.model.backbone
        before = bb.patch_embed.proj.weight.detach().clone(), bb.encoder.layers[-1].linear1.weight.detach().clone()
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, layer_decay(learn, 1e-2, decay))
        return [(a - p.detach()).abs().mean().item() for a, p in zip(before, (bb.patch_embed.proj.weight, bb.encoder.layers[-1].linear1.weight))]
    (emb, last), (emb1, _) = moved(0.01), moved(1.)
    assert emb < last / 100 and emb < emb1 / 100


def test_finelast_keeps_its_encoder_frozen_with_the_splitter(dls, weights):
    learn = finelast_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
    enc = {k: v.clone() for k, v in learn.model.state_dict().items() if k.startswith('backbone.')}
    head = learn.model.head[-1].weight.detach().clone()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, layer_decay(learn, 1e-2, 0.5))
    for k, v in enc.items(): assert torch.equal(v, learn.model.state_dict()[k]), k
    assert not torch.equal(head, learn.model.head[-1].weight)             # the head did train


@pytest.mark.parametrize('lr, decay, message', [
    (1e-3, 0, 'decay must be a positive number'), (1e-3, -0.5, 'decay must be a positive number'),
    (1e-3, True, 'decay must be a positive number'), (1e-3, '0.7', 'decay must be a positive number'),
    (1e-3, None, 'decay must be a positive number'), (1e-3, 1.5, r'decay must be in \(0, 1\]'),
    (-1e-3, 0.65, 'lr must be a positive number'), (None, 0.65, 'lr must be a positive number'),
    (slice(1e-3), 0.65, 'lr must be a positive number'),
    (1e-3, 1e-200, 'takes the lowest rate to 0'),                 # fastai would read a 0 start as lr / 10
])
def test_a_bad_lr_or_decay_is_refused(dls, weights, lr, decay, message):
    learn = fineall_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
    with pytest.raises(ValueError, match=message):
        layer_decay(learn, lr, decay)


def test_numpy_numbers_are_numbers(dls, weights):
    learn = fineall_learner(dls, weights, n_heads=2, splitter=timemae_splitter)
    assert layer_decay(learn, np.float32(1e-3), np.float32(0.5)).stop == pytest.approx(1e-3)


def test_an_optimizer_built_before_the_splitter_changed_is_named(dls, weights):
    "fastai would spread the slice over the optimizer's old two groups without a word."
    learn = fineall_learner(dls, weights, n_heads=2)
    learn.create_opt()
    learn.splitter = timemae_splitter
    with pytest.raises(ValueError, match=r'optimizer has 2 parameter groups but its splitter gives 4.*create_opt'):
        layer_decay(learn, 1e-3, 0.5)
    learn.create_opt()
    assert layer_decay(learn, 1e-3, 0.5) == slice(1e-3 * 0.5 ** 3, 1e-3)


def test_layer_decay_without_the_splitter_names_it(dls, weights):
    learn = fineall_learner(dls, weights, n_heads=2)
    with pytest.raises(ValueError, match=r'gives 2 parameter group\(s\).*splitter=timemae_splitter'):
        layer_decay(learn, 1e-3, 0.65)
