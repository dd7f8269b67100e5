import json
import math
import struct
import sys
from fractions import Fraction

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat, _moments, zoo
from gluonparams.errors import DependencyError, DeviceError, GluonParamsError, OptionError
from gluonparams.stats import ALL_ZERO, DEAD_GRAD, NONFINITE, STD_OFF

import nets
import training


def numpy_stats(values):
    """The same statistics straight from numpy, in float64."""
    v = onp.asarray(values, dtype=onp.float64).ravel()
    f = v[onp.isfinite(v)]
    return {'mean': f.mean(), 'std': f.std(), 'min': f.min(), 'max': f.max(),
            'norm': onp.linalg.norm(f), 'zeros': float(onp.mean(v == 0)),
            'nonfinite': int(v.size - f.size)}


def assert_matches_numpy(row, values):
    expected = numpy_stats(values)
    for key in ('mean', 'std', 'min', 'max', 'norm'):
        assert getattr(row, key) == pytest.approx(expected[key], rel=1e-12, abs=1e-15), key
    assert row.zeros == expected['zeros'] and row.nonfinite == expected['nonfinite']
    assert row.size == onp.asarray(values).size


@pytest.mark.parametrize('make', [nets.deck_toy, nets.deck_tied, nets.resnet18],
                         ids=['deck_toy', 'deck_tied', 'resnet18'])
def test_statistics_equal_numpys_on_every_device(make, device):
    net = make(device)
    result = gp.stats(net)
    assert [r.name for r in result] == list(gp.select(net))       # a tied parameter once
    first = _compat.device_name(nets.devices_of(device)[0])
    for row in result:
        assert row.device == first and row.of == 'data'
        assert_matches_numpy(row, gp.get(net, row.name).data(nets.devices_of(device)[0])
                             .asnumpy())
    assert not result.flagged, str(result)       # freshly initialized: nothing to flag


def test_float16_parameters_are_summed_exactly():
    net = nn.Dense(1000, in_units=1, dtype='float16')
    net.initialize()
    values = onp.full((1000, 1), 0.1, dtype=onp.float16)
    values[0] = 2048.0          # in float16, 2048 + 0.1 rounds back to 2048
    net.weight.set_data(mx.np.array(values, dtype='float16') if mx.util.is_np_array()
                        else mx.nd.array(values, dtype='float16'))
    row = gp.stats(net, 'weight')['weight']
    exact = [Fraction(float(v)) for v in values.ravel()]
    mean = sum(exact) / len(exact)
    variance = sum((v - mean) ** 2 for v in exact) / len(exact)
    assert row.dtype == 'float16'
    assert row.mean == pytest.approx(float(mean), rel=1e-15)
    assert row.std == pytest.approx(math.sqrt(variance), rel=1e-14)


def test_chunks_combine_to_the_single_pass_result(monkeypatch):
    rng = onp.random.default_rng(0)
    values = (rng.normal(3.0, 0.01, size=10_001)).astype(onp.float32)
    values[::97] = 0
    whole = _moments.moments(values)
    monkeypatch.setattr(_moments, 'CHUNK', 7)
    chunked = _moments.moments(values)
    assert chunked.count == whole.count == values.size
    for key in ('mean', 'm2', 'sumsq', 'low', 'high', 'nonzero'):
        assert getattr(chunked, key) == pytest.approx(getattr(whole, key), rel=1e-12)
    expected = numpy_stats(values)
    assert math.sqrt(chunked.m2 / chunked.count) == pytest.approx(expected['std'], rel=1e-10)


def test_nan_and_inf_are_counted_and_flagged_and_the_rest_is_summarized():
    net = nets.deck_toy()
    values = net[0].weight.data().asnumpy()
    values[0, :3] = [onp.nan, onp.inf, -onp.inf]
    net[0].weight.set_data(mx.np.array(values) if mx.util.is_np_array() else mx.nd.array(values))
    result = gp.stats(net)
    row = result['0.weight']
    assert row.nonfinite == 3 and row.flags == (NONFINITE,)
    assert_matches_numpy(row, values)
    assert [r.name for r in result.flagged] == ['0.weight']
    assert '3 of 32 values are NaN or Inf' in str(result)


def test_all_nan_parameter_gives_none_and_valid_json():
    net = nets.deck_toy()
    net[1].weight.set_data(net[1].weight.data() * onp.nan)
    result = gp.stats(net)
    row = result['1.weight']
    assert row.mean is None and row.std is None and row.nonfinite == 8
    text = json.dumps(result.to_dict(), allow_nan=False)
    assert json.loads(text)['flagged'] == ['1.weight']


def test_zero_initialized_weights_are_flagged_unless_told_zeros_were_meant():
    net = zoo.model_zoo_net('resnet18_v1', init=mx.init.Zero())
    net(_compat.uniform((1, 3, 32, 32)))
    result = gp.stats(net)         # assumes Gluon's default initializer, Uniform(0.07)
    weights = [n for n in gp.select(net, 'weight$')]
    assert [r.name for r in result.flagged] == weights
    assert all(result[n].flags == (ALL_ZERO,) for n in weights)
    # biases, beta and running means have their own 'zeros' initializer: not flagged
    assert result['features.1.beta'].flags == () and result['output.bias'].flags == ()
    assert not gp.stats(net, init=mx.init.Zero()).flagged
    assert 'every value is 0 although Uniform(scale=0.07) does not give zeros' in str(result)


def test_an_all_zero_parameter_whose_own_initializer_gives_ones_is_flagged():
    net = nets.resnet18()
    net.features[1].running_var.set_data(net.features[1].running_var.data() * 0)
    assert gp.stats(net)['features.1.running_var'].flags == (ALL_ZERO,)


INITIALIZERS = [mx.init.Uniform(0.3), mx.init.Normal(0.2), mx.init.Xavier(),
                mx.init.Xavier('gaussian', 'in', 2), mx.init.Xavier('uniform', 'out', 3),
                mx.init.MSRAPrelu(), mx.init.MSRAPrelu('in', 0.0)]


@pytest.mark.parametrize('init', INITIALIZERS, ids=lambda i: i.dumps())
def test_expected_std_is_the_std_mxnet_actually_draws(init):
    net = nets.resnet18(init=init)
    result = gp.stats(net, init=init)
    checked = [r for r in result if r.expected_std and r.size >= 20_000]
    assert len(checked) >= 12          # every large convolution, whatever its fan-in/out
    for row in checked:
        assert row.std == pytest.approx(row.expected_std, rel=0.05), row.name
    assert not [r for r in result if STD_OFF in r.flags]


def test_std_far_from_the_initializer_is_flagged_with_the_ratio():
    net = nets.resnet18(init=mx.init.Normal(0.5))
    result = gp.stats(net)            # but stats assume Gluon's default, Uniform(0.07)
    weights = list(gp.select(net, 'weight$'))
    assert [r.name for r in result.flagged] == weights
    row = result['features.0.weight']
    assert row.flags == (STD_OFF,) and row.init == 'Uniform(scale=0.07)'
    ratio = row.std / (0.07 / math.sqrt(3))
    assert f'{ratio:.3g} x the 0.04041 that Uniform(scale=0.07) implies' in str(result)
    assert not gp.stats(net, init=mx.init.Normal(0.5)).flagged
    assert not gp.stats(net, init=None).flagged      # None: only own initializers are checked


class WideUniform(mx.init.Uniform):
    """A subclass may draw differently from its parent: not understood."""

    def _init_weight(self, name, arr):
        super()._init_weight(name, arr)
        arr[:] = arr * 10


def test_unknown_initializers_are_named_and_not_checked():
    net = nets.resnet18(init=WideUniform(0.07))
    assert STD_OFF in gp.stats(net)['features.0.weight'].flags     # as if Uniform(0.07)
    row = gp.stats(net, init=WideUniform(0.07))['features.0.weight']
    assert row.init == 'WideUniform(scale=0.07)' and row.expected_std is None
    assert row.flags == ()


def test_a_bad_init_argument_is_an_option_error():
    with pytest.raises(OptionError, match="init='xavierr' is not an initializer"):
        gp.stats(nets.deck_toy(), init='xavierr')
    assert gp.stats(nets.deck_toy(), init='xavier')['0.weight'].init.startswith('Xavier(')


def dead_relu_net(device=None):
    """Dense(8, relu) whose bias pushes every unit below zero, then Dense(1) with bias 1."""
    net = nets.deck_toy(device)
    net[0].bias.set_data(net[0].bias.data() - 100)
    net[1].bias.set_data(net[1].bias.data() + 1)
    return net


def backward(net, device):
    for d in nets.devices_of(device):
        with autograd.record():
            loss = (net(_compat.uniform((2, 4), d)) ** 2).sum()
        loss.backward()


def test_gradients_match_numpy_and_dead_units_are_flagged(device):
    net = dead_relu_net(device)
    backward(net, device)
    result = gp.stats(net, grad=True)
    assert result.of == 'grad'
    for row in result:
        assert_matches_numpy(row, gp.get(net, row.name).grad(nets.devices_of(device)[0])
                             .asnumpy())
    # every ReLU is dead: layer 0 gets no gradient and layer 1 sees only zeros as input;
    # layer 1's bias (1, so the output is 1) still gets the loss's gradient
    assert [r.name for r in result.flagged] == ['0.weight', '0.bias', '1.weight']
    assert all(r.flags == (DEAD_GRAD,) for r in result.flagged)
    assert result['1.bias'].flags == () and result['1.bias'].norm > 0


def test_gradients_of_a_trained_resnet_skip_parameters_without_gradient(device):
    net = nets.resnet18(device)
    gp.freeze(net, '^features.0')
    training.steps(net, training.trainer(gp.select(net)), device, count=1)
    result = gp.stats(net, grad=True)
    no_grad = [n for n, p in gp.named_parameters(net) if p.grad_req == 'null']
    assert list(result.skipped) == no_grad and 'features.0.weight' in no_grad
    assert all(why == "no gradient (grad_req='null')" for why in result.skipped.values())
    assert not result.flagged and len(result) == len(gp.select(net)) - len(no_grad)


def test_device_selects_which_copy_is_read():
    net = nets.deck_toy([mx.cpu(0), mx.cpu(1)])
    second = net[0].weight.list_data()[1]
    second[:] = 5                              # make the copies differ on purpose
    row = gp.stats(net, '0.weight', device='cpu(1)')['0.weight']
    assert row.device == 'cpu(1)' and row.mean == 5 and row.std == 0
    assert gp.stats(net, '0.weight')['0.weight'].device == 'cpu(0)'
    assert gp.stats(net, '0.weight', device=mx.cpu(0))['0.weight'].mean != 5


def test_a_device_without_a_copy_is_a_clear_error():
    net = nets.deck_toy(mx.cpu(1))
    with pytest.raises(DeviceError, match=r"'0.weight' has no copy on cpu\(0\): it lives on "
                                          r"cpu\(1\); pass one of them as device="):
        gp.stats(net, device='cpu(0)')
    with pytest.raises(DeviceError, match='names 2 devices'):
        gp.stats(net, device=['cpu(0)', 'cpu(1)'])
    with pytest.raises(DeviceError):
        gp.stats(net, device='tpu(0)')


def test_uninitialized_parameters_are_skipped_with_the_reason():
    net = nets.deck_tied(run=False)       # no Dense knows its input width yet
    result = gp.stats(net)
    why = 'not initialized yet (run the network once)'
    assert result.skipped == {'0.weight': why, '1.weight': why, '3.weight': why}
    assert [r.name for r in result] == ['0.bias', '1.bias', '3.bias']


def test_renderings_table_dict_and_str(device):
    result = gp.stats(dead_relu_net(device), grad=False)
    table = result.table()
    assert table.splitlines()[0].split() == ['Name', 'Shape', 'Mean', 'Std', 'Min', 'Max', 'L2',
                                             'norm', 'Zeros', 'NaN/Inf', 'Init', 'std', 'Flags']
    assert '0.weight' in table and '(8, 4)' in table
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert [r['name'] for r in data['rows']] == ['0.weight', '0.bias', '1.weight', '1.bias']
    assert data['rows'][0]['shape'] == [8, 4] and data['of'] == 'data'
    assert str(result).startswith(table) and 'look sane' in str(result)
    assert '<table>' in result._repr_html_()
    with pytest.raises(gp.GluonParamsError,
                       match=r"no statistics for '2.weight'; have \['0.weight'"):
        result['2.weight']


def test_a_table_names_devices_when_copies_are_read_from_several():
    a = nets.deck_toy(mx.cpu(0))
    b = nets.deck_toy(mx.cpu(1))
    both = nn.Sequential()
    both.add(a, b)
    table = gp.stats(both).table()
    assert 'Device' in table and 'cpu(1)' in table


# --- histograms -------------------------------------------------------------------------

def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and data[12:16] == b'IHDR'
    return struct.unpack('>II', data[16:24])


def test_plot_histograms_writes_a_png_of_the_expected_size(tmp_path):
    import matplotlib.image
    net = nets.resnet18()
    path = gp.plot_histograms(net, 'weight$', path=tmp_path / 'h.png', cols=5, dpi=40)
    count = len(gp.select(net, 'weight$'))
    rows = -(-count // 5)
    assert path == tmp_path / 'h.png'
    assert png_size(path) == (int(5 * 2.5 * 40), int(rows * 2.0 * 40))
    pixels = matplotlib.image.imread(str(path))
    assert (pixels[..., :3] < 0.9).any(), 'the image is blank'


def test_plot_histograms_returns_a_figure_with_one_panel_per_parameter(device):
    net = dead_relu_net(device)
    backward(net, device)
    figure = gp.plot_histograms(net, grad=True, bins=10)
    assert [ax.get_title() for ax in figure.axes] == [f'{n} (grad)' for n in gp.select(net)]
    assert all(len(ax.patches) == 1 for ax in figure.axes)


def test_plot_histograms_without_matplotlib_says_how_to_get_it(monkeypatch):
    for name in ('matplotlib', 'matplotlib.figure', 'matplotlib.backends.backend_agg'):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(DependencyError, match=r"pip install 'gluonparams\[plot\]'"):
        gp.plot_histograms(nets.deck_toy())


def test_plot_histograms_checks_its_options_and_needs_something_to_draw():
    with pytest.raises(OptionError, match='bins=0'):
        gp.plot_histograms(nets.deck_toy(), bins=0)
    with pytest.raises(GluonParamsError, match='nothing to draw'):
        gp.plot_histograms(nets.deck_toy(), 'nothing')
