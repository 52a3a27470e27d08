"""The architecture: window slicing, any length without seq_len, tsai conventions, clear errors for bad input."""
import pytest
import torch

from tsai_timemae.all import TimeMAE
from conftest import SMALL


def test_window_slicing_is_one_shared_conv_with_zero_padding():
    m = TimeMAE(3, 2, window=8, d_model=16, n_layers=1, n_heads=2)
    conv = m.backbone.patch_embed.proj
    assert (conv.kernel_size, conv.stride) == ((8,), (8,))
    x = torch.randn(2, 3, 20)                                  # 20 steps -> padded to 24 -> 3 patches
    tokens = m.backbone.patchify(x)
    assert tokens.shape == (2, 3, 16)
    padded = torch.cat([x, torch.zeros(2, 3, 4)], -1)
    last = conv(padded[..., 16:24]).squeeze(-1)                # the last patch is the zero-padded window
    assert torch.allclose(tokens[:, 2], last, atol=1e-6)


def test_any_length_works_without_seq_len_and_output_is_logits():
    m = TimeMAE(9, 6).eval()
    for T in (8, 100, 128, 1000):
        assert m(torch.randn(2, 9, T)).shape == (2, 6)
    assert m.head_nf == 64 and hasattr(m, 'backbone') and hasattr(m, 'head')
    assert TimeMAE(9, None)(torch.randn(2, 9, 128)).shape == (2, 64)   # unlabelled: pooled features


def test_classification_is_mean_pooling_over_all_patches_then_linear():
    m = TimeMAE(2, 3, **SMALL).eval()
    x = torch.randn(4, 2, 50)
    feats = m.backbone(x)                                      # [bs, d_model, n_patches]
    assert feats.shape == (4, 32, 5)
    lin = m.head[-1]
    assert torch.allclose(m(x), lin(feats.mean(-1)), atol=1e-5)


def test_visible_encoder_uses_torch_transformer_layers():
    m = TimeMAE(2, 3)
    layers = m.backbone.encoder.layers
    assert len(layers) == 8 and all(isinstance(l, torch.nn.TransformerEncoderLayer) for l in layers)
    assert layers[0].self_attn.num_heads == 4 and layers[0].linear1.out_features == 256
    assert layers[0].dropout.p == 0.2


def test_custom_head_follows_tsai_convention():
    m = TimeMAE(2, 5, custom_head=lambda nf, c_out, seq_len: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(c_out)), **SMALL)
    assert m(torch.randn(3, 2, 40)).shape == (3, 5)


def test_works_through_tsai_entry_points(dls, basic_motions, splits, tmp_path):
    from tsai.all import TSClassification, TSClassifier, ts_learner
    learn = ts_learner(dls, TimeMAE, **SMALL)
    assert isinstance(learn.model, TimeMAE) and learn.model.c_in == 6 and learn.model.c_out == 4
    X, y = basic_motions[:2]
    clf = TSClassifier(X, y, splits=splits, tfms=[None, TSClassification()], arch=TimeMAE, arch_config=SMALL,
                       bs=10, path=tmp_path)
    clf.fit_one_cycle(1, 1e-3)
    probs, _, preds = clf.get_X_preds(X[:5])
    assert probs.shape == (5, 4) and len(preds) == 5


def test_bad_input_gives_clear_errors():
    m = TimeMAE(3, 2, window=8, d_model=16, n_layers=1, n_heads=2)
    with pytest.raises(ValueError, match='3-D.*x\\[:, None\\]'):
        m(torch.randn(4, 100))
    with pytest.raises(ValueError, match='c_in=3.*has 2'):
        m(torch.randn(4, 2, 100))
    with pytest.raises(ValueError, match='shorter than one window'):
        m(torch.randn(4, 3, 5))
    with pytest.raises(ValueError, match='NaN or inf'):
        x = torch.randn(4, 3, 100); x[1, 2, 3] = float('nan'); m(x)
    with pytest.raises(ValueError, match='NaN or inf'):
        x = torch.randn(4, 3, 100); x[0, 0, 0] = float('inf'); m(x)
    with pytest.raises(ValueError, match='max_seq_len'):
        TimeMAE(3, 2, window=8, max_seq_len=64)(torch.randn(1, 3, 100))
    with pytest.raises(ValueError, match='shorter than one window'):
        TimeMAE(3, 2, seq_len=4, window=8)
    with pytest.raises(ValueError, match='divisible'):
        TimeMAE(3, 2, d_model=30, n_heads=4)


# -- the encoder layer: its own forward, torch's parameters -----------------------------------------------------------
def test_encoder_layer_runs_no_private_torch_method(monkeypatch):
    from tsai_timemae.model import TimeMAEEncoderLayer
    def private(*a, **k): raise AssertionError("torch's private _sa_block/_ff_block was called")
    monkeypatch.setattr(torch.nn.TransformerEncoderLayer, '_sa_block', private)
    monkeypatch.setattr(torch.nn.TransformerEncoderLayer, '_ff_block', private)
    for pre_norm in (False, True):
        m = TimeMAE(3, 2, pre_norm=pre_norm, residual_gain=True, **{k: v for k, v in SMALL.items()})
        m(torch.randn(2, 3, 40)).sum().backward()
        m.eval()(torch.randn(2, 3, 40))
    layer = TimeMAEEncoderLayer(16, 2, 32, 0.1, batch_first=True)
    layer(torch.randn(2, 5, 16))


@pytest.mark.parametrize('pre_norm', [False, True])
def test_gated_blocks_follow_their_formula(pre_norm):
    "With residual_gain: post-norm LN(x + g * f(x)), pre-norm x + g * f(LN(x)), in eval (no dropout)."
    torch.manual_seed(0)
    layer = TimeMAE(3, 2, pre_norm=pre_norm, residual_gain=True, **SMALL).backbone.encoder.layers[0].eval()
    with torch.no_grad(): layer.gain1.fill_(0.5); layer.gain2.fill_(2.)
    x = torch.randn(2, 6, 32)
    attn = lambda y: layer.self_attn(y, y, y, need_weights=False)[0]
    ff = lambda y: layer.linear2(torch.nn.functional.gelu(layer.linear1(y)))
    with torch.no_grad():
        if pre_norm:
            y = x + 0.5 * attn(layer.norm1(x)); want = y + 2. * ff(layer.norm2(y))
        else:
            y = layer.norm1(x + 0.5 * attn(x)); want = layer.norm2(y + 2. * ff(y))
        torch.testing.assert_close(layer(x), want, atol=1e-5, rtol=1e-5)


def test_attention_dropout_is_its_own_setting():
    bb = TimeMAE(3, 2, dropout=0.3, **SMALL).backbone
    layer = bb.encoder.layers[0]
    assert layer.self_attn.dropout == 0.3 and layer.dropout1.p == 0.3 and bb.config['attn_dropout'] is None  # as torch's layer
    bb = TimeMAE(3, 2, dropout=0.3, attn_dropout=0., **SMALL).backbone
    layer = bb.encoder.layers[0]
    assert layer.self_attn.dropout == 0. and layer.dropout1.p == 0.3 and layer.dropout.p == 0.3
    assert bb.config['attn_dropout'] == 0.
    with pytest.raises(ValueError, match='attn_dropout'):
        TimeMAE(3, 2, attn_dropout=1.5, **SMALL)


def test_attn_dropout_zero_trains_through_the_fused_kernel(monkeypatch):
    "SDPA gets dropout_p=0 in training, so on CPU it may take the fused (flash) kernel; the attention is the same."
    import torch.nn.functional as F
    from tsai_timemae import layers
    seen = []
    real = F.scaled_dot_product_attention
    def spy(q, k, v, mask=None, dropout_p=0., **kw):
        seen.append(dropout_p); return real(q, k, v, mask, dropout_p=dropout_p, **kw)
    monkeypatch.setattr(layers.F, 'scaled_dot_product_attention', spy)
    TimeMAE(3, 2, attn_dropout=0., **SMALL).train()(torch.randn(2, 3, 40))
    TimeMAE(3, 2, **SMALL).train()(torch.randn(2, 3, 40))
    assert seen == [0.] * SMALL['n_layers'] + [0.2] * SMALL['n_layers']


def test_the_layers_stay_importable_from_the_model_module():
    from tsai_timemae import layers, model
    for name in ('check_input', 'PatchEmbed', 'fast_dropout', 'FastDropout', 'multihead_attention', 'ff_dropouts',
                 'TimeMAEEncoderLayer', 'authors_init_'):
        assert getattr(model, name) is getattr(layers, name), name


def test_backbone_config_rebuilds_the_same_architecture():
    from tsai_timemae.model import TimeMAEBackbone
    bb = TimeMAE(3, 2, pre_norm=True, residual_gain=True, attn_dropout=0.1, ff_dropout='output_twice', **SMALL).backbone
    again = TimeMAEBackbone(**bb.config)
    assert again.config == bb.config
    assert [(k, v.shape) for k, v in again.state_dict().items()] == [(k, v.shape) for k, v in bb.state_dict().items()]


def test_block_output_reads_any_block_and_the_last_is_the_encoders_output():
    "`block_output(x, k)`: the tokens after k blocks; 0 the embeddings, n_layers or -1 the output, -n_layers the first."
    m = TimeMAE(2, 3, window=5, d_model=16, n_layers=3, n_heads=2).eval()
    bb, x = m.backbone, torch.randn(4, 2, 50)
    with torch.no_grad():
        assert torch.allclose(bb.block_output(x, 3), bb(x), atol=1e-6) and torch.allclose(bb.block_output(x, -1), bb(x), atol=1e-6)
        assert torch.equal(bb.block_output(x, 0), bb.embed(x).transpose(1, 2))
        first = bb.encoder.layers[0](bb.embed(x)).transpose(1, 2)
        assert torch.allclose(bb.block_output(x, 1), first, atol=1e-6) and torch.allclose(bb.block_output(x, -3), first, atol=1e-6)
        assert not torch.allclose(bb.block_output(x, 2), bb(x), atol=1e-3)  # a middle block is not the output
    for bad in (4, -4, 1.5, True, '2', None):
        with pytest.raises(ValueError, match=r'layer must be a whole number from 0 .* to 3 .* -1 .* -3'):
            bb.block_output(x, bad)


def test_a_feature_extractor_on_labelled_data_gives_features_from_get_X_preds(dls, basic_motions, splits):
    """README: `arch_config=dict(c_out=None)` gives the `[n, d_model]` features on labelled data too. tsai decoded
    them with the labels' vocabulary (IndexError once a feature index passed the classes), after a softmax."""
    import numpy as np
    from tsai.all import ts_learner
    from tsai_timemae.all import get_embeddings
    X = basic_motions[0]
    learn = ts_learner(dls, TimeMAE, arch_config=dict(c_out=None, **SMALL))
    with learn.no_bar(): feats, targets, decoded = learn.get_X_preds(X[:5])
    assert feats.shape == (5, SMALL['d_model']) and targets is None and decoded is None
    assert np.allclose(feats.numpy(), get_embeddings(learn, X[:5]), atol=1e-5)  # the features, no softmax over them
    with learn.no_bar(): out = learn.get_X_preds(X[:5], with_input=True, with_decoded=False)
    assert len(out) == 3 and out[1].shape == (5, SMALL['d_model'])
    with learn.no_bar(): out = learn.get_X_preds(X[:5], with_loss=True)  # no targets, no loss: as tsai does
    assert len(out) == 3 and out[0].shape == (5, SMALL['d_model'])
    # fastai's own get_preds gave a softmax of them, and fit trained them as the scores of d_model classes
    with learn.no_bar(): feats, _, decoded = learn.get_preds(with_decoded=True)
    assert decoded is None and np.allclose(feats.numpy(), get_embeddings(learn, X[splits[1]]), atol=1e-5)
    with learn.no_bar(): assert np.isnan(learn.validate()[0])  # no loss: features have none on these labels
    with learn.no_bar(), learn.no_logging(), pytest.raises(ValueError, match=r'gives features \(c_out=None\).*no loss to '
                                                           r'train it.*finelast_learner.*pass loss_func='):
        learn.fit(1)
    from fastai.losses import MSELossFlat  # a loss of one's own trains the features
    own = ts_learner(dls, TimeMAE, loss_func=MSELossFlat(), arch_config=dict(c_out=None, **SMALL))
    assert 'MSELoss' in repr(own.loss_func)
    from tsai.all import TSClassification, TSClassifier  # tsai's TSClassifier builds its learner without ts_learner
    X, y = basic_motions[:2]
    clf = TSClassifier(X, y, splits=splits, tfms=[None, TSClassification()], arch='TimeMAE',
                       arch_config=dict(c_out=None, **SMALL))
    assert repr(clf.loss_func) == 'FeaturesLoss()'


def test_tsais_builders_imported_before_the_package_still_know_timemae(tmp_path):
    """`from tsai.all import *` (or `import build_ts_model` in the user's own module) before a named import of
    TimeMAE: those names are tsai's functions too, and building with them must give the model `ts_learner` gives."""
    import subprocess
    import sys
    (tmp_path / 'mine.py').write_text('from tsai.all import build_ts_model\ncreate_model = "a name of my own"\n')
    code = '''
import numpy as np
import mine
from tsai.all import *
from tsai_timemae.all import TimeMAE
X, y = np.random.default_rng(0).standard_normal((16, 3, 50)).astype('float32'), np.array(['a', 'b'] * 8)
dls = get_ts_dls(X, y, splits=(list(range(12)), list(range(12, 16))), tfms=[None, TSClassification()], bs=4)
assert build_ts_model(TimeMAE, dls=dls).window == ts_learner(dls, TimeMAE).model.window == 5
assert mine.build_ts_model(TimeMAE, dls=dls).window == 5 and mine.create_model == "a name of my own"
assert get_arch('TimeMAE') is TimeMAE
print('ok')
'''
    env = {**__import__('os').environ, 'PYTHONPATH': str(tmp_path), 'OMP_NUM_THREADS': '1'}
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert out.stdout.strip().endswith('ok'), out.stderr[-2000:]


def test_a_head_sized_for_a_number_of_patches_names_another_length():
    "tsai's head for several outputs per series flattens the patches: another length is a clear error, not torch's."
    from functools import partial
    from tsai.models.layers import lin_nd_head
    m = TimeMAE(3, 3, seq_len=50, window=5, d_model=16, n_layers=1, n_heads=2, d_ff=32,
                custom_head=partial(lin_nd_head, d=2)).eval()
    assert m(torch.randn(2, 3, 47)).shape == (2, 2, 3)                    # 10 patches, as built
    with pytest.raises(RuntimeError, match=r'built for 10 patches \(series of 46 to 50 steps, window 5\).*12 patches \(60 steps\)'):
        m(torch.randn(2, 3, 60))
    assert TimeMAE(3, 3, window=5, d_model=16, n_layers=1, n_heads=2, d_ff=32)(torch.randn(2, 3, 60)).shape == (2, 3)
    m.head.double()                                                        # another fault: torch's own error, not ours
    with pytest.raises(RuntimeError, match='dtype') as e: m(torch.randn(2, 3, 60))
    assert 'built for' not in str(e.value)
    m.head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16 * 10, 3))  # a head put in later: not described
    with pytest.raises(RuntimeError) as e: m(torch.randn(2, 3, 60))
    assert 'built for' not in str(e.value)


def test_get_embeddings_of_a_bfloat16_model_with_a_numpy_batch_size_and_a_memmap(tmp_path):
    "numpy has no bfloat16 and torch's split takes no numpy integer; a float32 memmap is read one batch at a time."
    import numpy as np
    from tsai_timemae.all import as_panel, get_embeddings
    torch.manual_seed(0)
    X = np.random.default_rng(0).standard_normal((5, 3, 40)).astype(np.float32)
    m = TimeMAE(3, 2, **SMALL)
    ref = get_embeddings(m, X, bs=np.int64(2))
    assert ref.dtype == np.float32 and np.allclose(ref, get_embeddings(m, X))
    import copy
    half = get_embeddings(copy.deepcopy(m).bfloat16(), X)
    assert half.dtype == np.float32 and half.shape == ref.shape
    assert np.allclose(half, ref, atol=.1) and not np.allclose(half, 0)   # the same features, at bfloat16's precision
    mm = np.lib.format.open_memmap(tmp_path / 'X.npy', mode='w+', dtype=np.float32, shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.load(tmp_path / 'X.npy', mmap_mode='r')
    assert np.shares_memory(as_panel(ro, 'test', copy=False), ro)         # not copied whole
    assert not np.shares_memory(as_panel(X, 'test'), X)                   # training's copy stays a copy
    assert np.allclose(get_embeddings(m, ro, bs=2), ref)


def test_get_embeddings_leaves_each_part_in_the_mode_it_was_in():
    "A frozen encoder kept in eval mode inside a training model (FineLast mid-fit) stays in eval mode."
    import numpy as np
    from tsai_timemae.all import get_embeddings
    m = TimeMAE(3, 2, **SMALL).train()
    m.backbone.eval()
    get_embeddings(m, np.zeros((2, 3, 40), np.float32))
    assert m.training and not m.backbone.training and not any(x.training for x in m.backbone.modules())


def test_y_range_bounds_a_regression_head_as_tsais_models_do():
    "tsai users pass y_range for regression (TSTPlus adds SigmoidRange): it was an unexpected keyword."
    from fastai.layers import SigmoidRange
    torch.manual_seed(0)
    x = torch.randn(4, 3, 40) * 100
    m = TimeMAE(3, 2, **SMALL, y_range=(-1, 3))
    assert isinstance(m.head[-1], SigmoidRange)
    out = m(x)
    assert out.shape == (4, 2) and out.min() > -1 and out.max() < 3
    def flat_head(nf, c_out, n_patches): return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(nf * n_patches, c_out))
    flat = TimeMAE(3, 1, seq_len=40, **SMALL, custom_head=flat_head, y_range=(0, 1))
    assert flat.head._timemae_patches == 4 and 0 < flat(x).min() and flat(x).max() < 1
    for bad in [(1, 0), (0,), (0, float('inf')), 'ab']:
        with pytest.raises(ValueError, match='y_range must be \\(low, high\\)'): TimeMAE(3, 1, **SMALL, y_range=bad)
    with pytest.raises(ValueError, match='c_out=None gives features'): TimeMAE(3, None, **SMALL, y_range=(0, 1))
