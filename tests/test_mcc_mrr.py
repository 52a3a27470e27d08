"""Informative MCC targets (frozen tokenizers), the MCC diagnostics, and an MRR that cannot quietly collapse."""
import copy
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fastai.callback.core import Callback
from tsai.all import ts_learner

from tsai_timemae.all import (KMeansTokenizer, RandomProjectionTokenizer, TimeMAE, TimeMAELoss, TimeMAEPretrain,
                              TimeMAEPretrainer, code_stats, cosine_momentum, default_vocab_size, make_tokenizer, mcc_diagnostics,
                              masked_count, mrr_distance, raw_patches, real_steps, representation_spread, representation_sums,
                              spread_from_sums)
from conftest import SMALL


def _learner(udls, tmp_path, **cb_kw):
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False, save_best=False, **cb_kw)
    return ts_learner(udls, TimeMAE, cbs=cb, **SMALL), cb


class _Codes:
    "Records the MCC targets of every training batch, as code indices."
    def __init__(self, pre): self.seen = []; pre.register_forward_hook(lambda m, i, o: self.seen.append((i[0], o)))


# -- frozen tokenizers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name', ['kmeans', 'random_projection'])
def test_frozen_tokenizer_codes_never_change_during_pretraining(udls, tmp_path, seed, name):
    learn, cb = _learner(udls, tmp_path, tokenizer=name, vocab_size=16)
    x = udls.one_batch()[0]
    learn.fit(1, 1e-3)                                          # fits the tokenizer before the first step, then trains
    tok = cb.pretrainer.tokenizer
    assert bool(tok.fitted)
    state = {k: v.clone() for k, v in tok.state_dict().items() if not k.startswith('predictor')}
    patches = raw_patches(x, tok.window).flatten(-2)
    before = tok(patches, torch.zeros(1))[0].argmax(-1)
    learn.fit(2, 1e-2)                                          # more training, a high lr: the codes must not move
    after = tok(patches, torch.zeros(1))[0].argmax(-1)
    assert torch.equal(before, after)
    for k, v in tok.state_dict().items():
        if k in state: assert torch.equal(v, state[k]), k
    assert not any(p.requires_grad for n, p in tok.named_parameters() if not n.startswith('predictor'))


def test_kmeans_codes_group_similar_patches_and_are_the_nearest_centroid():
    torch.manual_seed(0)
    # two kinds of patches: rising and falling ramps, with noise; two codes must separate them
    ramp = torch.linspace(-1, 1, 8)
    x = torch.cat([ramp.expand(50, 1, 8), -ramp.expand(50, 1, 8)]) + 0.05 * torch.randn(100, 1, 8)
    x = x.repeat(1, 1, 4)                                        # 4 patches per series, all of the same kind
    tok = make_tokenizer('kmeans', d_model=8, vocab_size=2, c_in=1, window=8)
    tok.fit(raw_patches(x, 8).flatten(-2))
    codes = tok(raw_patches(x, 8).flatten(-2), torch.zeros(1))[0].argmax(-1)
    assert (codes[:50] == codes[0, 0]).all() and (codes[50:] == codes[50, 0]).all() and codes[0, 0] != codes[50, 0]
    # and each the nearest centroid of its standardised patch (with two codes, the farthest would only swap the names)
    z = tok.standardize(raw_patches(x, 8).flatten(-2))
    assert torch.equal(codes, torch.cdist(z.reshape(-1, z.shape[-1]), tok.centroids).argmin(-1).view(codes.shape))


@pytest.mark.parametrize('name', ['kmeans', 'random_projection'])
def test_frozen_codes_are_the_same_in_a_half_precision_network(name):
    "`.half()` / `.bfloat16()` on the pretraining network cast the centroids too: the codes' matmul failed on dtypes."
    torch.manual_seed(0)
    x = torch.randn(16, 2, 64)
    patches = raw_patches(x, 8).flatten(-2)
    tok = make_tokenizer(name, d_model=8, vocab_size=16, c_in=2, window=8).fit(patches)
    codes = tok(patches, torch.zeros(1))[0].argmax(-1)
    for dtype in (torch.float16, torch.bfloat16):
        low = copy.deepcopy(tok).to(dtype)
        out = low(patches.to(dtype), torch.zeros(1, dtype=dtype))[0]
        assert out.dtype == dtype and (out.argmax(-1) == codes).float().mean() > .95, dtype  # centroids rounded, codes kept


@pytest.mark.parametrize('name', ['kmeans', 'random_projection'])
def test_frozen_tokenizers_refuse_what_cannot_be_their_patches(name):
    "Raw series or another window's patches were reshaped and fitted (channels mixed); NaN gave NaN statistics."
    tok = make_tokenizer(name, d_model=8, vocab_size=4, c_in=2, window=8)
    with pytest.raises(ValueError, match=r'takes raw patches \[N, c_in \* window\] = \[N, 16\].*got shape \(40, 2, 64\)'):
        tok.fit(torch.randn(40, 2, 64))
    with pytest.raises(ValueError, match='NaN or inf.*Impute'):
        tok.fit(torch.full((10, 16), float('nan')))
    with pytest.raises(ValueError, match='at least one patch'):
        tok.fit(torch.zeros(0, 16))
    assert not bool(tok.fitted)


def test_tokenizer_helpers_name_a_bad_vocabulary_or_tokenizer():
    with pytest.raises(TypeError, match=r"vocab_size must be a whole number.*None.*default_vocab_size\('kmeans'"):
        make_tokenizer('kmeans', d_model=8, vocab_size=None, c_in=1, window=4)
    with pytest.raises(TypeError, match='vocab_size must be a whole number.*16.0'):
        make_tokenizer('gumbel', d_model=8, vocab_size=16.0, c_in=1, window=4)
    with pytest.raises(ValueError, match='tokenizer must be one of'):
        default_vocab_size('kmean', 1000)


def test_frozen_tokenizer_used_before_fit_is_a_clear_error():
    tok = KMeansTokenizer(8, 4, c_in=1, window=4)
    with pytest.raises(RuntimeError, match='has not been fitted'):
        tok(torch.randn(2, 3, 4), torch.zeros(1))


def test_degenerate_codes_warn():
    tok = RandomProjectionTokenizer(8, 16, c_in=1, window=2)
    with pytest.warns(UserWarning, match='degenerate'):
        tok.fit(torch.zeros(500, 2))                             # every patch identical: one code


def test_unknown_tokenizer_names_the_choices():
    with pytest.raises(ValueError, match="kmeans.*random_projection|random_projection.*kmeans"):
        TimeMAEPretrain(tokenizer='vq')


def test_vocab_size_defaults_scale_with_the_data(udls, tmp_path):
    assert default_vocab_size('gumbel', 10 ** 6) == 192
    assert default_vocab_size('kmeans', 500) == 16 and default_vocab_size('kmeans', 10 ** 6) == 256
    assert default_vocab_size('kmeans', 5000) == 50
    learn, cb = _learner(udls, tmp_path, tokenizer='kmeans', vocab_size=None)
    assert cb.pretrainer.tokenizer.vocab_size == 16              # 30 BasicMotions series x 10 patches = 300 patches


# -- diagnostics ----------------------------------------------------------------------------------------------------
def test_normalised_mcc_is_zero_for_uniform_random_targets_and_one_for_perfect_prediction():
    torch.manual_seed(0)
    V, codes = 32, torch.randint(0, 32, (256, 16))
    one_hot = F.one_hot(codes, V).float()
    random_guess = mcc_diagnostics(torch.randn(256, 16, V) * 0.01, one_hot, torch.randint(0, V, (256, 16)))
    assert abs(float(random_guess['mcc_norm'])) < 0.02
    assert float(random_guess['copy_acc']) < 0.1 and float(random_guess['mcc_acc']) < 0.1
    perfect = mcc_diagnostics(one_hot * 50, one_hot, codes)
    assert float(perfect['mcc_norm']) > 0.99 and float(perfect['mcc_acc']) == 1 and float(perfect['copy_acc']) == 1
    assert float(perfect['ppl']) > 30


def test_epoch_perplexity_and_normalised_mcc_pool_the_batches():
    """A predictor of the code frequencies scores 0 and the perplexity is the codes' own when the statistics pool an
    epoch's batches; a mean of per-batch values reads both low for batches of 40 masked patches and 64 codes."""
    torch.manual_seed(0)
    V, n = 64, 40
    freq = torch.softmax(torch.randn(V), 0)
    sums, per_batch = {'code_counts': 0., 'ce_sum': 0., 'n_codes': 0}, []
    for _ in range(300):
        codes = torch.multinomial(freq, n, replacement=True)[None]
        d = mcc_diagnostics(freq.log().expand(1, n, V), F.one_hot(codes, V).float(), codes)
        sums = {k: sums[k] + d[k] for k in sums}
        per_batch.append((float(d['mcc_norm']), float(d['ppl'])))
    pooled, true_ppl = code_stats(**sums), math.exp(float(-(freq * freq.log()).sum()))
    assert abs(pooled['mcc_norm']) < 0.02 and abs(pooled['ppl'] / true_ppl - 1) < 0.03, (pooled, true_ppl)
    batch_norm, batch_ppl = (sum(v) / len(v) for v in zip(*per_batch))
    assert batch_norm < -0.1 and batch_ppl < 0.8 * true_ppl, (batch_norm, batch_ppl, true_ppl)  # what batch means said
    assert math.isnan(code_stats(0., 0., 0)['ppl'])


def test_normalised_mcc_of_a_single_code_is_undefined_not_perfect():
    "One code for every target has no entropy to explain: `mcc_norm` is NaN, however badly that code is predicted."
    assert math.isnan(code_stats(torch.tensor([5., 0., 0.]), ce_sum=10., n_codes=5)['mcc_norm'])
    one = F.one_hot(torch.zeros(1, 5, dtype=torch.long), 3).float()
    assert math.isnan(float(mcc_diagnostics(torch.zeros(1, 5, 3), one, torch.zeros(1, 5))['mcc_norm']))


def test_masked_count_is_the_ratio_rounded_down_without_floating_point_loss():
    assert masked_count(90, 0.7) == 63 and masked_count(100, 0.29) == 29      # 62.99999999999999 and 28.999999999999996
    assert masked_count(16, 0.6) == 9 and masked_count(2, 0.6) == 1 and masked_count(10, 0.01) == 1
    assert masked_count(10, 0.99) == 9                                         # at most all but one


def test_rep_std_pools_the_batches_instead_of_averaging_them():
    """The per-channel spread of an epoch is the spread over all its vectors: summed per batch, then computed once.
    A mean of per-batch spreads misses the spread between series of different batches (and a last batch of one
    series measures its positions alone), so it read low, the more so for small batches."""
    torch.manual_seed(0)
    reps = torch.randn(25, 1, 32) * 2 + 0.3 * torch.randn(25, 12, 32)           # each series its own direction
    sizes, sums = [8, 8, 8, 1], dict(rep_sum=0., rep_sq=0., rep_n=0)
    for b in torch.split(reps, sizes):
        sums = {k: sums[k] + v for k, v in representation_sums(b).items()}
    whole = representation_spread(reps)
    assert spread_from_sums(**sums) == pytest.approx(whole, rel=1e-9)
    batch_mean = sum(n * representation_spread(b) for n, b in zip(sizes, torch.split(reps, sizes))) / sum(sizes)
    assert batch_mean < whole - 0.005                                          # what the table showed before
    assert math.isnan(representation_spread(torch.randn(1, 1, 8)))             # one vector has no spread


def test_progress_table_rep_std_is_the_spread_over_the_whole_validation_epoch(udls, tmp_path, seed):
    """The validation `rep_std` equals the spread of every visible representation the epoch produced, with batches of
    10, 10 and a last one of a different size."""
    from fastai.callback.core import Callback
    class Collect(Callback):
        order = 100
        def before_validate(self): self.reps = []
        def after_pred(self):
            if not self.training: self.reps.append(self.learn.pred['rep_vis'].detach())
    learn, cb = _learner(udls, tmp_path)
    learn.dls.valid.bs = 3                                                     # 10 validation series: 3, 3, 3, 1
    col = Collect()
    learn.fit(1, 1e-3, cbs=col)
    assert [len(r) for r in col.reps] == [3, 3, 3, 1]
    assert cb.history[-1]['rep_std'] == pytest.approx(representation_spread(torch.cat(col.reps)), rel=1e-5)


def test_history_and_progress_table_carry_the_diagnostics(udls, tmp_path, seed):
    learn, cb = _learner(udls, tmp_path, tokenizer='kmeans', vocab_size=16)
    learn.fit(1, 1e-3)
    h = cb.history[-1]
    for k in ('mcc', 'mrr', 'ppl', 'mcc_acc', 'mcc_norm', 'copy_acc', 'rep_std'):
        assert math.isfinite(h[f'train_{k}']) and k in h, k
    assert 1 <= h['train_ppl'] <= 16 and 0 <= h['train_copy_acc'] <= 1 and h['momentum'] == 0.99


def test_a_double_precision_model_pretrains_in_double(udls, tmp_path, seed):
    """`learn.model.double()` before pretraining: the modules the callback adds (decoder, tokenizer, mask token) follow
    the backbone's dtype, instead of a dtype mismatch at the first batch."""
    learn = ts_learner(udls, TimeMAE, **SMALL)
    learn.model.double()
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False, save_best=False, tokenizer='kmeans', vocab_size=16)
    learn.add_cb(cb)
    learn.fit(1, 1e-3)
    assert {p.dtype for p in learn.model.parameters()} == {torch.float64}
    assert math.isfinite(cb.history[-1]['train_mrr']) and math.isfinite(cb.history[-1]['rep_std'])


def test_diagnostics_sum_in_float32_on_a_device_without_float64(udls, tmp_path, monkeypatch):
    """Apple's GPUs (MPS) have no float64: there the per-batch sums stay float32 on the device (`wide_dtype`), pooling
    moves them to the CPU before widening them (torch refuses, or zeroes, one MPS-to-CPU float64 copy), and the history
    reads as it does in float64."""
    import tsai_timemae.pretrain as P
    from fastai.callback.core import Callback
    from torch.utils._python_dispatch import TorchDispatchMode
    assert P.wide_dtype('mps') == torch.float32 and P.wide_dtype(torch.device('cpu')) == torch.float64

    class OneStepWidening(TorchDispatchMode):  # the copy an MPS tensor cannot make: to another device and float64 at once
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func is torch.ops.aten._to_copy.default and kwargs.get('dtype') == torch.float64 and 'device' in kwargs:
                raise AssertionError('a tensor moved and widened in one copy')
            return func(*args, **kwargs)

    class SumDtypes(Callback):
        order = 100
        def __init__(self, cb): self.cb = cb
        def after_batch(self):
            if self.training: self.seen = self.cb._train_sums['rep_sum'].dtype

    hist = []
    for narrow in (False, True):
        if narrow: monkeypatch.setattr(P, 'wide_dtype', lambda d: torch.float32)
        torch.manual_seed(0); np.random.seed(0)
        learn, cb = _learner(udls, tmp_path / str(narrow), tokenizer='kmeans', vocab_size=16)
        spy = SumDtypes(cb)
        with OneStepWidening(): learn.fit(1, 1e-3, cbs=spy)
        assert spy.seen == (torch.float32 if narrow else torch.float64)
        hist.append(cb.history[-1])
    for k in ('train_ppl', 'train_rep_std', 'rep_std', 'ppl', 'train_mrr'):
        assert hist[1][k] == pytest.approx(hist[0][k], rel=1e-4), k


@pytest.mark.parametrize('cast', ['half', 'bfloat16', 'double'])
def test_a_cast_network_keeps_the_frozen_tokenizers_statistics_float32(cast):
    """`model.half()` (or any cast) reaches the tokenizer with the network: its predictor casts, its fitted statistics
    and centroids stay float32 and exact, so every patch keeps its code (in half precision a mean of 300.3 would be 300.0)."""
    tok = KMeansTokenizer(16, 4, c_in=1, window=4)
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0)) * 0.1 + 300.3
    tok.fit(x)
    t = getattr(copy.deepcopy(tok), cast)()
    assert t.predictor.weight.dtype == getattr(torch, cast)
    for k in ('mean', 'std', 'centroids'):
        assert getattr(t, k).dtype == torch.float32 and torch.equal(getattr(t, k), getattr(tok, k)), k
    assert torch.equal(t.frozen_codes(x), tok.frozen_codes(x))
    moved = copy.deepcopy(tok).to('meta', getattr(torch, cast))                # a device move with the cast still moves them
    assert all(getattr(moved, k).device.type == 'meta' and getattr(moved, k).dtype == torch.float32
               for k in ('mean', 'std', 'centroids'))
    widened = copy.deepcopy(tok)                                               # a buffer made float64 some other way
    widened.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in tok.state_dict().items()}, assign=True)
    assert widened.float().mean.dtype == torch.float32


# -- MRR options and the collapse monitor --------------------------------------------------------------------------
def test_collapse_monitor_warns_on_a_constant_encoder(udls, tmp_path, seed):
    learn, cb = _learner(udls, tmp_path)
    last = learn.model.backbone.encoder.layers[-1].norm2
    with torch.no_grad(): last.weight.zero_(); last.bias.fill_(0.5)
    last.requires_grad_(False)                                   # every token's representation is the same vector
    with pytest.warns(UserWarning, match='collapsing') as said:
        learn.fit(1, 1e-3)
    assert cb.history[-1]['train_rep_std'] < 1e-4
    assert [w.filename for w in said if 'collapsing' in str(w.message)] == [__file__]  # the user's line, not the library's
    # only the remedies not in use: the defaults normalise the targets and freeze k-means codes (it advised both)
    msg = next(str(w.message) for w in said if 'collapsing' in str(w.message))
    assert 'normalize_targets' not in msg and 'tokenizer="kmeans"' not in msg and 'momentum_end=0.9999' in msg, msg
    learn, cb = _learner(udls, tmp_path, tokenizer='gumbel', normalize_targets=False, momentum_end=0.9999)
    last = learn.model.backbone.encoder.layers[-1].norm2
    with torch.no_grad(): last.weight.zero_(); last.bias.fill_(0.5)
    last.requires_grad_(False)
    with pytest.warns(UserWarning, match='collapsing') as said:
        learn.fit(1, 1e-3)
    msg = next(str(w.message) for w in said if 'collapsing' in str(w.message))
    assert 'normalize_targets=True' in msg and 'tokenizer="kmeans"' in msg and 'momentum_end' not in msg, msg


def test_collapse_monitor_is_quiet_on_a_healthy_encoder(udls, tmp_path, seed):
    learn, cb = _learner(udls, tmp_path)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        learn.fit(1, 1e-3)
    assert not [x for x in w if 'collapsing' in str(x.message)]
    assert cb.history[-1]['train_rep_std'] > 0.3 * 32 ** -0.5


def test_representation_spread_about_one_over_sqrt_d_for_random_vectors():
    assert abs(float(representation_spread(torch.randn(16, 64, 64))) - 64 ** -0.5) < 0.01
    assert float(representation_spread(torch.ones(16, 4, 64))) == 0


def test_normalised_targets_have_zero_mean_unit_std_over_positions():
    model = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(model.backbone, vocab_size=8, normalize_targets=True).train()
    t = pre(torch.randn(4, 3, 100))['target_reps']                # [4, 6, 32]
    assert torch.allclose(t.mean(1), torch.zeros(4, 32), atol=1e-5)
    assert torch.allclose(t.var(1, unbiased=False), torch.ones(4, 32), atol=1e-2)


def test_momentum_schedule_rises_along_a_cosine(udls, tmp_path, seed):
    assert cosine_momentum(0.996, 0.9999, 0.) == 0.996 and cosine_momentum(0.996, 0.9999, 1.) == pytest.approx(0.9999)
    assert cosine_momentum(0.996, 0.9999, .5) == pytest.approx((0.996 + 0.9999) / 2)
    assert cosine_momentum(0.99, None, .7) == 0.99
    learn, cb = _learner(udls, tmp_path, momentum=0.9, momentum_end=0.99)
    learn.fit(3, 1e-3)
    m = [h['momentum'] for h in cb.history]
    n = len(learn.dls.train) * 3                                   # the history gives each epoch's last update's momentum
    assert m == sorted(m) and m[-1] == pytest.approx(cosine_momentum(0.9, 0.99, (n - 1) / n)) and m[-1] < 0.99
    assert m[0] == pytest.approx(cosine_momentum(0.9, 0.99, (n / 3 - 1) / n))


def test_shared_mask_is_one_mask_for_the_whole_batch():
    model = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(model.backbone, vocab_size=8, shared_mask=True)
    vis, msk = pre.mask(16, 10, None)
    assert (msk == msk[0]).all() and (vis == vis[0]).all()


def test_label_smoothing_raises_the_loss_of_a_confident_right_answer():
    logits, targets = torch.eye(4)[[0, 1, 2]].expand(2, 3, 4) * 20, torch.eye(4)[[0, 1, 2]].expand(2, 3, 4)
    out = dict(logits=logits, targets=targets, masked_reps=torch.zeros(2, 3, 8), target_reps=torch.zeros(2, 3, 8),
               usage=torch.full((4,), .25), copy_codes=torch.zeros(2, 3, dtype=torch.long), rep_vis=torch.randn(2, 3, 8))
    assert float(TimeMAELoss(1., 1.)(out)) < 1e-3 < float(TimeMAELoss(1., 1., label_smoothing=0.2)(out))


def test_target_embed_online_uses_the_online_embeddings():
    model = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(model.backbone, vocab_size=8, target_embed='online').eval()
    with torch.no_grad(): pre.target.patch_embed.proj.weight.zero_(); pre.target.pos_embed.zero_()
    x = torch.randn(2, 3, 100)
    ids = torch.arange(10).expand(2, -1)
    online = pre.momentum_targets(x, ids)
    assert torch.allclose(online, pre.target.encode(model.backbone.embed(x)), atol=1e-5)
    with pytest.raises(ValueError, match='target_embed'):
        TimeMAEPretrainer(model.backbone, target_embed='own')


def test_kmeans_with_fewer_patches_than_codes_uses_what_it_has():
    tok = make_tokenizer('kmeans', d_model=8, vocab_size=16, c_in=1, window=4)
    patches = torch.tensor([[0., 0, 0, 1], [1, 1, 1, 1], [5, 0, 0, 0], [0, 0, 0, 1]])   # 3 distinct patches
    with pytest.warns(UserWarning, match='only 3 distinct patches'):
        tok.fit(patches)
    codes = tok(patches, torch.zeros(1))[0].argmax(-1)
    assert len(set(codes.tolist())) == 3 and codes[0] == codes[3] and int(codes.max()) < 3


def test_default_vocabulary_is_about_one_code_per_hundred_training_patches(tmp_path):
    import numpy as np
    from tsai.all import get_ts_dls
    X = np.random.default_rng(0).standard_normal((700, 2, 95)).astype('float32')     # 600 training series
    dls = get_ts_dls(X, splits=(list(range(600)), list(range(600, 700))), bs=64)
    cb = TimeMAEPretrain(target_dir=tmp_path, verbose=False)
    ts_learner(dls, TimeMAE, cbs=cb, **SMALL)                                         # window 10: 10 patches each
    assert cb.pretrainer.tokenizer.vocab_size == 60                                   # 6000 patches / 100


@pytest.mark.parametrize('name', ['codebook', 'gumbel', 'kmeans', 'random_projection'])
def test_every_tokenizer_says_its_vocabulary(name):
    assert make_tokenizer(name, 16, 24, 3, 4).vocab_size == 24


def test_target_layers_average_the_momentum_encoders_last_blocks_each_normalised():
    "data2vec-style targets: with `target_layers=K`, the mean of the last K blocks' outputs, each normalised first."
    model = TimeMAE(3, None, **dict(SMALL, n_layers=3))
    x, ids = torch.randn(2, 3, 100), torch.arange(10).expand(2, -1)
    one = TimeMAEPretrainer(model.backbone, vocab_size=8, normalize_targets=True).eval()
    two = TimeMAEPretrainer(model.backbone, vocab_size=8, normalize_targets=True, target_layers=np.int64(2)).eval()
    raw = TimeMAEPretrainer(model.backbone, vocab_size=8, normalize_targets=False, target_layers=2).eval()
    for p in (two, raw): p.target.load_state_dict(one.target.state_dict())
    t = one.target
    norm = lambda r: F.instance_norm(r.transpose(1, 2)).transpose(1, 2)      # over the patches
    blocks = [t.block_output(x, k).transpose(1, 2) for k in (1, 2, 3)]
    assert torch.allclose(one.momentum_targets(x, ids), norm(blocks[2]), atol=1e-5)
    assert torch.allclose(two.momentum_targets(x, ids), (norm(blocks[1]) + norm(blocks[2])) / 2, atol=1e-5)  # the last two
    assert torch.allclose(raw.momentum_targets(x, ids), (blocks[1] + blocks[2]) / 2, atol=1e-5)
    assert not torch.allclose(two.momentum_targets(x, ids), one.momentum_targets(x, ids), atol=1e-3)


@pytest.mark.parametrize('bad', [1.5, True, '2'])
def test_target_layers_must_be_a_whole_number_of_blocks(bad):
    with pytest.raises(TypeError, match='target_layers must be a whole number'):
        TimeMAEPretrain(target_layers=bad)
    with pytest.raises(ValueError, match='target_layers must be at least 1'):
        TimeMAEPretrain(target_layers=0)


def test_a_state_saved_before_target_layers_existed_resumes_with_the_default():
    from tsai_timemae.pretrain import _settings_since
    assert _settings_since({'masking': 'random', 'target_layers': 1}) == {'masking': 'random'}
    assert _settings_since({'masking': 'random', 'target_layers': 4}) == {'masking': 'random', 'target_layers': 4}


def test_target_layers_beyond_the_encoders_depth_is_named():
    model = TimeMAE(3, None, **SMALL)
    with pytest.raises(ValueError, match=r'target_layers=3 asks for more blocks than the encoder has \(2\)'):
        TimeMAEPretrainer(model.backbone, vocab_size=8, target_layers=3)


def test_target_layers_reaches_the_pretrainer_through_the_callback(udls, tmp_path, seed):
    learn, cb = _learner(udls, tmp_path, target_layers=2)
    learn.fit(1, 1e-3)
    assert cb.pretrainer.target_layers == 2 and math.isfinite(cb.history[-1]['mrr'])


def test_full_context_targets_read_the_masked_positions_of_the_whole_series():
    "data2vec's teacher sees the unmasked series: each target depends on the visible patches too, not on the masked alone."
    model = TimeMAE(3, None, **SMALL)
    x, ids = torch.randn(2, 3, 100), torch.tensor([[1, 4, 7], [0, 2, 9]])
    masked = TimeMAEPretrainer(model.backbone, vocab_size=8, normalize_targets=True).eval()
    full = TimeMAEPretrainer(model.backbone, vocab_size=8, normalize_targets=True, target_context='full').eval()
    full.target.load_state_dict(masked.target.state_dict())
    whole = full.target.block_output(x, -1).transpose(1, 2)                      # [bs, 10 patches, d]
    norm = lambda r: F.instance_norm(r.transpose(1, 2)).transpose(1, 2)          # over the patches
    expected = torch.stack([norm(whole)[i, ids[i]] for i in range(2)])
    assert torch.allclose(full.momentum_targets(x, ids), expected, atol=1e-5)
    assert not torch.allclose(masked.momentum_targets(x, ids), expected, atol=1e-3)
    x2 = x.clone(); x2[:, :, 50:60] += 1                                          # patch 5, visible in both series
    assert not torch.allclose(full.momentum_targets(x2, ids), full.momentum_targets(x, ids))
    assert torch.allclose(masked.momentum_targets(x2, ids), masked.momentum_targets(x, ids))


def test_target_context_is_checked_reaches_the_pretrainer_and_old_states_resume():
    from tsai_timemae.pretrain import _settings_since
    with pytest.raises(ValueError, match="target_context must be 'masked'.*or 'full'.*got 'all'"):
        TimeMAEPretrain(target_context='all')
    assert TimeMAEPretrain(target_context='full').net_kwargs['target_context'] == 'full'
    assert _settings_since({'masking': 'random', 'target_context': 'masked'}) == {'masking': 'random'}


def test_full_context_pretraining_runs_through_the_callback(udls, tmp_path, seed):
    learn, cb = _learner(udls, tmp_path, target_context='full')
    learn.fit(1, 1e-3)
    assert cb.pretrainer.target_context == 'full' and math.isfinite(cb.history[-1]['mrr'])


# -- the padding of the last patch and flat channels in the frozen tokenizers' standardisation -------------------
@pytest.mark.parametrize('name', ['kmeans', 'random_projection'])
def test_frozen_tokenizer_statistics_ignore_the_zero_padding_of_the_last_patch(name):
    "The padding counted as data: a channel around 50 with std 2 was fitted a std of 22, and shaped no code."
    g = torch.Generator().manual_seed(0)
    x = torch.stack([torch.randn(200, 12, generator=g), 50 + 2 * torch.randn(200, 12, generator=g)], 1)  # [200, 2, 12]
    patches, real = raw_patches(x, 8).flatten(-2), real_steps(12, 8, 2)  # 2 patches; the last has 4 steps of padding
    tok = make_tokenizer(name, d_model=8, vocab_size=16, c_in=2, window=8).fit(patches, real)
    assert torch.allclose(tok.mean, x.mean((0, 2)), atol=1e-4) and torch.allclose(tok.std, x.std((0, 2)).float(), rtol=1e-3)
    z = tok.standardize(patches, real).view(200, 2, 2, 8)
    assert z[:, 1, :, 4:].eq(0).all()                            # the padding reads as each channel's mean
    # the second channel shapes the codes of the first patch: swapping it between series changes most of them
    swapped = torch.cat([x[:, :1], x.flip(0)[:, 1:]], 1)
    codes = tok(patches, torch.zeros(1), real=real)[0].argmax(-1)
    codes_swapped = tok(raw_patches(swapped, 8).flatten(-2), torch.zeros(1), real=real)[0].argmax(-1)
    assert (codes[:, 0] != codes_swapped[:, 0]).float().mean() > .5


def test_pretraining_fits_the_tokenizer_on_the_series_own_steps(tmp_path, seed):
    "Through the callback: the fitted statistics are the training series' own, whatever the padding."
    from tsai.data.core import get_ts_dls
    x = np.random.default_rng(0).normal(5, 1, (40, 1, 25)).astype('float32')   # window 10: 3 patches, 5 steps padded
    udls = get_ts_dls(x, splits=(list(range(30)), list(range(30, 40))), bs=10)
    learn, cb = _learner(udls, tmp_path, tokenizer='kmeans', vocab_size=4)
    learn.fit(1, 1e-3)
    tok = cb.pretrainer.tokenizer
    assert abs(float(tok.mean[0]) - x[:30].mean()) < 1e-3 and abs(float(tok.std[0]) - x[:30].std(ddof=1)) < 1e-2
    # and the training targets are the codes of the patches with their padding marked
    xb = torch.from_numpy(x[:8])
    out = cb.pretrainer.eval()(xb)
    patches = raw_patches(xb, 10).flatten(-2)
    marked, unmarked = tok.frozen_codes(patches, real_steps(25, 10, 1)), tok.frozen_codes(patches)
    assert (marked != unmarked).any()                          # the padding's code depends on how it is read
    assert torch.equal(out['targets'].argmax(-1), marked.gather(1, out['ids_msk']))


@pytest.mark.parametrize('name', ['kmeans', 'random_projection'])
def test_a_channel_flat_in_training_is_scaled_by_one_not_by_a_million(name):
    "A std floor of 1e-6 multiplied any later movement in a flat channel by a million: k-means gave one code to all."
    g = torch.Generator().manual_seed(0)
    train = torch.stack([torch.randn(100, 32, generator=g), torch.zeros(100, 32)], 1)
    tok = make_tokenizer(name, d_model=8, vocab_size=16, c_in=2, window=8).fit(raw_patches(train, 8).flatten(-2))
    assert torch.equal(tok.std[1], torch.tensor(1.))
    moved = train.clone(); moved[:, 1] = 1e-3 * torch.randn(100, 32, generator=g)  # the flat channel stirs a little
    before = tok(raw_patches(train, 8).flatten(-2), torch.zeros(1))[0].argmax(-1)
    after = tok(raw_patches(moved, 8).flatten(-2), torch.zeros(1))[0].argmax(-1)
    assert (before == after).float().mean() > .95
    nearly = train.clone(); nearly[0, 1, 0] = 1e-7                  # one value apart: the floor of 1e-6 still holds
    tok = make_tokenizer(name, d_model=8, vocab_size=16, c_in=2, window=8).fit(raw_patches(nearly, 8).flatten(-2))
    assert torch.equal(tok.std[1], torch.tensor(1e-6))


def test_mcc_diagnostics_of_non_finite_logits_are_nan_not_perfect():
    "NaN representations draw code 0 everywhere and NaN logits predict code 0: the accuracies read 1.0."
    targets = F.one_hot(torch.zeros(4, 6, dtype=torch.long), 8).float()
    d = mcc_diagnostics(torch.full((4, 6, 8), float('nan')), targets, torch.zeros(4, 6, dtype=torch.long))
    for k in ('ppl', 'mcc_acc', 'mcc_norm', 'copy_acc'): assert math.isnan(float(d[k])), k
    assert all(math.isnan(v) for v in code_stats(d['code_counts'], d['ce_sum'], d['n_codes']).values())
    ok = mcc_diagnostics(torch.zeros(4, 6, 8), targets, torch.zeros(4, 6, dtype=torch.long))
    assert float(ok['mcc_acc']) == 1. and float(ok['ppl']) == 1.


def test_gumbel_tau_is_the_draws_temperature():
    """`tau` used to change nothing (the argmax of a hard Gumbel-softmax draw does not depend on it): a low `tau`
    draws the argmax, and `tau=1` is the authors' draw, codeword for codeword."""
    torch.manual_seed(0)
    z = torch.randn(64, 16, 8)
    cold, warm, auth = (make_tokenizer('gumbel', d_model=8, vocab_size=32, c_in=1, window=4, tau=t) for t in (0.01, 1., 1.))
    for tok in (warm, auth): tok.load_state_dict(cold.state_dict())
    argmax = cold.center(z).argmax(-1)
    torch.manual_seed(1); cold_codes = cold(None, z)[0].argmax(-1)
    assert (cold_codes == argmax).float().mean() > 0.95
    torch.manual_seed(1); warm_codes = warm(None, z)[0].argmax(-1)
    assert (warm_codes == argmax).float().mean() < 0.5
    torch.manual_seed(1); authors = F.gumbel_softmax(auth.center(z), tau=1.).argmax(-1)
    assert torch.equal(warm_codes, authors)


@pytest.mark.parametrize('name,option', [('gumbel', 'tau'), ('codebook', 'temperature')])
@pytest.mark.parametrize('bad', [0, -1., float('nan'), float('inf'), 'hot', True])
def test_tokenizer_temperatures_must_be_finite_and_positive(name, option, bad):
    with pytest.raises(ValueError, match=f'{option} must be a finite number above 0'):
        make_tokenizer(name, d_model=8, vocab_size=16, c_in=1, window=4, **{option: bad})


@pytest.mark.parametrize('tokenizer', ['kmeans', 'random_projection'])
def test_gamma_with_frozen_codes_is_refused_by_name(tokenizer):
    "The usage penalty has no gradient through frozen codes: it only shifted the loss, and trained nothing."
    with pytest.raises(ValueError, match=f"gamma=0.5 .*{tokenizer}.*frozen.*tokenizer='gumbel' or 'codebook'"):
        TimeMAEPretrain(tokenizer=tokenizer, gamma=0.5)
    TimeMAEPretrain(tokenizer=tokenizer, gamma=0.)
    TimeMAEPretrain(tokenizer='gumbel', gamma=0.5)


def test_tokenizer_temperatures_take_numpy_scalars_and_are_checked_before_any_work():
    "A grid search's np.float32 passes, as every other real setting; a bad value is named by TimeMAEPretrain itself."
    for v in (np.float32(0.5), np.int64(2)):
        assert make_tokenizer('gumbel', d_model=8, vocab_size=16, c_in=1, window=4, tau=v).tau == float(v)
    with pytest.raises(ValueError, match='tau must be a finite number above 0'):
        TimeMAEPretrain(tokenizer='gumbel', tokenizer_kwargs=dict(tau=0))
    with pytest.raises(ValueError, match='temperature must be a finite number above 0'):
        TimeMAEPretrain(tokenizer='codebook', tokenizer_kwargs=dict(temperature=-1.))


def test_the_copy_baseline_takes_the_nearest_visible_code():
    """`copy_acc` is MCC's bar: each masked patch's code guessed as the code of the visible patch nearest in position
    (of two equally near, the one listed first), checked against every pair of positions, long series included."""
    from tsai_timemae.pretrain import nearest_visible_codes, random_masking, span_masking
    torch.manual_seed(0)
    for n, ratio, draw in [(2, 0.5, random_masking), (7, 0.6, random_masking), (40, 0.6, span_masking), (300, 0.75, random_masking)]:
        vis, msk = draw(5, n, ratio)
        codes = torch.randint(0, 50, (5, n))
        got = nearest_visible_codes(codes, vis, msk)
        for b in range(5):
            for j, m in enumerate(msk[b].tolist()):
                dists = [abs(m - v) for v in vis[b].tolist()]
                assert got[b, j] == codes[b, vis[b, dists.index(min(dists))]]


def test_normalised_targets_over_a_single_masked_patch_are_named_once():
    """normalize_targets normalises over the masked patches of a series: with one masked patch there is nothing to
    normalise over, and the targets stayed raw without a word."""
    from tsai_timemae.all import TimeMAEBackbone
    from tsai_timemae.notices import TimeMAEWarning
    from tsai_timemae.pretrain import TimeMAEPretrainer
    bb = TimeMAEBackbone(2, window=8, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    for length, expected in ((16, 1), (64, 0)):                     # 2 patches: 1 masked; 8 patches: 4 masked
        net = TimeMAEPretrainer(bb, normalize_targets=True, tokenizer='gumbel')
        net.fitting_with_callback = True
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            for _ in range(2): net(torch.randn(3, 2, length))
        named = [x for x in w if issubclass(x.category, TimeMAEWarning) and 'only one patch is masked' in str(x.message)]
        assert len(named) == expected, length
        assert all(x.filename == __file__ for x in named)          # the caller's line, not torch's module call


# -- MRR's distance: squared error or cosine ----------------------------------------------------------------------
def _mrr_out(reps, targets):
    bs, m, _ = reps.shape
    return dict(logits=torch.zeros(bs, m, 4), targets=torch.full((bs, m, 4), .25), masked_reps=reps, target_reps=targets,
                usage=torch.full((4,), .25), copy_codes=torch.zeros(bs, m, dtype=torch.long), rep_vis=torch.randn(bs, m, 8))


def test_cosine_mrr_ignores_the_scale_of_the_representations_and_squared_error_does_not():
    torch.manual_seed(0)
    t = torch.randn(2, 3, 8)
    mse, cos = TimeMAELoss(0., 1.), TimeMAELoss(0., 1., mrr_loss='cosine')
    assert float(cos(_mrr_out(3 * t, t))) == pytest.approx(0., abs=1e-6)      # the same direction, three times longer
    assert float(mse(_mrr_out(3 * t, t))) == pytest.approx(float((2 * t).pow(2).mean()), rel=1e-5)
    assert float(cos(_mrr_out(-t, t))) == pytest.approx(2., abs=1e-5)         # the opposite direction
    assert float(mse(_mrr_out(t + 1, t))) == pytest.approx(1., rel=1e-5)      # the default is torch's mean squared error


def test_per_series_mrr_losses_average_to_the_batch_loss_for_both_distances():
    "fastai's get_preds(with_loss=True) sets reduction='none': one loss per series, whose mean is the batch's."
    torch.manual_seed(1)
    reps, t = torch.randn(4, 5, 8), torch.randn(4, 5, 8)
    for kind in ('mse', 'cosine'):
        loss = TimeMAELoss(0., 1., mrr_loss=kind)
        batch = float(loss(_mrr_out(reps, t)))
        loss.reduction = 'none'
        per_series = loss(_mrr_out(reps, t))
        assert per_series.shape == (4,) and float(per_series.mean()) == pytest.approx(batch, rel=1e-5), kind


def test_mrr_loss_is_checked_when_the_callback_is_made_and_reaches_the_loss(udls, tmp_path, seed):
    with pytest.raises(ValueError, match=r"mrr_loss must be 'mse' .* or 'cosine' .*got 'l1'"):
        TimeMAEPretrain(mrr_loss='l1')
    learn, cb = _learner(udls, tmp_path, mrr_loss='cosine')
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert learn.loss_func.mrr_loss == 'cosine'
    learn.model.eval()                                   # evaluation draws fixed masks: one batch's outputs, recomputed
    with torch.no_grad(): out = learn.model(udls.valid.one_batch()[0])
    learn.loss_func(out)
    cos = float(mrr_distance(out['masked_reps'], out['target_reps'], 'cosine').mean())
    mse = float(F.mse_loss(out['masked_reps'], out['target_reps']))
    assert float(learn.loss_func.last['mrr']) == pytest.approx(cos, rel=1e-5) and abs(cos - mse) > 1e-3


def test_a_loss_pickled_before_mrr_loss_existed_still_computes_the_squared_error():
    "learn.export() pickles the loss: one saved before the option has no mrr_loss attribute, and ran the squared error."
    torch.manual_seed(2)
    reps, t = torch.randn(2, 3, 8), torch.randn(2, 3, 8)
    old = TimeMAELoss(0., 1.)
    del old.mrr_loss
    assert float(old(_mrr_out(reps, t))) == float(F.mse_loss(reps, t))
    old.reduction = 'none'
    assert torch.allclose(old(_mrr_out(reps, t)), (reps - t).pow(2).mean((1, 2)))


# -- k-means codes of centred patches ------------------------------------------------------------------------------
def test_centred_kmeans_codes_ignore_a_patchs_level_and_uncentred_ones_do_not():
    "center=True: a code says how the series moves within the patch, so the same movement at another level keeps it."
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 6.28, 8)
    shapes = torch.stack([torch.sin(t), torch.cos(t), t / 3, -t / 3])                     # 4 movements of 8 steps
    x = (shapes[torch.arange(400) % 4] + 3 * torch.randn(400, 1, generator=g) + .05 * torch.randn(400, 8, generator=g))
    patches = x[:, None]                                                                   # [400, 1, 8]: one channel
    centred = make_tokenizer('kmeans', d_model=8, vocab_size=4, c_in=1, window=8, center=True).fit(patches.flatten(-2))
    plain = make_tokenizer('kmeans', d_model=8, vocab_size=4, c_in=1, window=8).fit(patches.flatten(-2))
    codes = lambda tok, p: tok.frozen_codes(p.flatten(-2))
    for tok, same in ((centred, True), (plain, False)):
        moved = codes(tok, patches + 2.5)                                                  # every patch 2.5 higher
        assert bool((moved == codes(tok, patches)).all()) is same, tok.center
    by_shape = codes(centred, patches)                                                     # one code per movement
    assert all(len(set(by_shape[torch.arange(400) % 4 == k].tolist())) == 1 for k in range(4))


def test_centring_leaves_the_padding_at_zero_and_takes_the_mean_over_the_series_own_steps():
    x = torch.arange(24.).view(2, 1, 12)                                                   # window 8: 2 patches, 4 padded
    patches, real = raw_patches(x, 8).flatten(-2), real_steps(12, 8, 1)
    tok = make_tokenizer('kmeans', d_model=8, vocab_size=2, c_in=1, window=8, center=True).fit(patches, real)
    z = tok.standardize(patches, real).view(2, 2, 8)
    assert z[:, 1, 4:].eq(0).all()                                                         # the padding: still 0
    assert torch.allclose(z[:, 1, :4].sum(-1), torch.zeros(2), atol=1e-5)                 # its own 4 steps: centred
    assert torch.allclose(z[:, 0].sum(-1), torch.zeros(2), atol=1e-5)


def test_center_is_an_option_of_the_kmeans_tokenizer_only():
    from tsai_timemae.tokenizers import check_tokenizer_options
    check_tokenizer_options('kmeans', {'center': True})
    with pytest.raises(ValueError, match=r"\['center'\] are not options of the 'random_projection' tokenizer"):
        check_tokenizer_options('random_projection', {'center': True})


# -- several masks per series (data2vec 2.0's multi-mask) -------------------------------------------------------------
def test_each_series_is_masked_several_ways_in_training_and_once_in_validation():
    torch.manual_seed(0)
    model = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(model.backbone, vocab_size=8, masks_per_series=3)
    x = torch.randn(4, 3, 40)
    out = pre.train()(x)
    assert out['ids_msk'].shape[0] == 12 and out['masked_reps'].shape[0] == 12
    copies = out['ids_msk'].sort(-1).values.view(4, 3, -1)                   # series i's copies are rows 3i..3i+2
    assert all(len({tuple(c.tolist()) for c in copies[i]}) > 1 for i in range(4))  # their masks differ
    with torch.no_grad(): assert pre.eval()(x)['ids_msk'].shape[0] == 4
    del pre.masks_per_series                                                   # a network pickled before the option
    assert pre.train()(x)['ids_msk'].shape[0] == 4


def test_masks_per_series_is_checked_and_trains_through_the_callback(udls, tmp_path, seed):
    for bad, match in ((0, 'at least 1'), (1.5, 'a whole number')):
        with pytest.raises((ValueError, TypeError), match=match): TimeMAEPretrain(masks_per_series=bad)
    learn, cb = _learner(udls, tmp_path, masks_per_series=2)
    seen = []
    learn.add_cb(type('Seen', (Callback,), {'after_loss': lambda self: seen.append((self.training, self.pred['ids_msk'].shape[0], len(self.xb[0])))})())
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    assert cb.pretrainer.masks_per_series == 2 and math.isfinite(cb.history[-1]['mrr'])
    assert all(n == (2 * b if training else b) for training, n, b in seen) and {t for t, _, _ in seen} == {True, False}


def test_a_shared_mask_with_several_masks_per_series_gives_each_copy_its_own():
    "One mask for the whole repeated batch trained M identical copies: the j-th copies share the j-th of M masks."
    torch.manual_seed(0)
    model = TimeMAE(3, None, **SMALL)
    pre = TimeMAEPretrainer(model.backbone, vocab_size=8, masks_per_series=3, shared_mask=True).train()
    ids = pre(torch.randn(4, 3, 40))['ids_msk'].sort(-1).values.view(4, 3, -1)      # [series, copy, n_m]
    assert (ids == ids[:1]).all()                                                    # copy j: one mask for the batch
    assert len({tuple(ids[0, j].tolist()) for j in range(3)}) == 3                   # three masks, not one


def test_a_pretrained_learner_refuses_another_number_of_masks_per_series(udls, tmp_path, seed):
    learn, cb = _learner(udls, tmp_path)
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    learn.remove_cb(cb)
    with pytest.raises(ValueError, match=r'masks_per_series=1 there, 2 here'):
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3, cbs=TimeMAEPretrain(target_dir=tmp_path, verbose=False,
                                                                                         save_best=False, masks_per_series=2))


def test_center_must_be_a_bool_and_needs_more_than_one_step():
    with pytest.raises(TypeError, match=r"center must be True or False, got 'False'"):
        TimeMAEPretrain(tokenizer_kwargs={'center': 'False'})
    with pytest.raises(ValueError, match='a patch of one step is its mean'):
        make_tokenizer('kmeans', d_model=8, vocab_size=4, c_in=2, window=1, center=True)


def test_tokenizer_counts_and_seeds_are_refused_and_unused_decoder_settings_named():
    """`max_fit_patches=0` failed at fit time with an IndexError, `100.0` with a slice TypeError, `seed=1.5` with
    scikit-learn's words, `code_dim=0` trained on one code; `decoupled=False` accepted decoder settings it ignores."""
    from tsai_timemae.all import TimeMAEPretrain
    for tok, kw in (('kmeans', {'max_fit_patches': 0}), ('kmeans', {'max_fit_patches': 100.0}), ('kmeans', {'seed': 1.5}),
                    ('random_projection', {'code_dim': 0}), ('random_projection', {'seed': -1})):
        with pytest.raises(ValueError, match=f'{next(iter(kw))} must be a whole number'):
            TimeMAEPretrain(tokenizer=tok, tokenizer_kwargs=kw)
    TimeMAEPretrain(tokenizer='kmeans', tokenizer_kwargs={'max_fit_patches': 10, 'seed': 0})
    from tsai_timemae.notices import TimeMAEWarning
    for kw in ({'decoder_dropout': 0.5}, {'n_decoder_layers': 7}):  # a warning: the authors' preset sets decoder_dropout
        with pytest.warns(TimeMAEWarning, match=f'decoupled=False .*{next(iter(kw))}='): TimeMAEPretrain(decoupled=False, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        TimeMAEPretrain(decoupled=False)
