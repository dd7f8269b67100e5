"""Optimizer state in checkpoints: gp.save(..., trainer=) and gp.load(..., trainer=).

The central test trains N steps straight through, and N/2 steps, saves, loads into a
fresh network and a fresh Trainer on another device, trains N/2 more: the two must
agree bit for bit, for every optimizer below, on every device of the fixture.
"""

import json
import os

import mxnet as mx
import numpy as onp
import pytest
from mxnet import autograd, gluon, optimizer
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat, zoo
from gluonparams.checkpoint._model import OPTIMIZER_PREFIX
from gluonparams.errors import CheckpointError, OptionError

import nets

STEPS = 6
BATCH = 4

# name -> (optimizer, a function giving fresh optimizer_params: a scheduler keeps state)
OPTIMIZERS = {
    'sgd-momentum': ('sgd', lambda: {'learning_rate': 0.1, 'momentum': 0.9, 'wd': 1e-3}),
    'adam': ('adam', lambda: {'learning_rate': 0.01}),
    'rmsprop-factor-scheduler': ('rmsprop', lambda: {   # RMSProp's own default lr is 0.001
        'learning_rate': 0.01, 'lr_scheduler': mx.lr_scheduler.FactorScheduler(2, 0.5,
                                                                               base_lr=0.01)}),
    'nag-multifactor-scheduler': ('nag', lambda: {
        'momentum': 0.9, 'lr_scheduler': mx.lr_scheduler.MultiFactorScheduler([2, 4], 0.5,
                                                                              base_lr=0.05)}),
}


def other(device):
    """Another device of the fixture to resume on: cpu(0) <-> cpu(1), the pair in the
    other order, the next GPU (the same one when there is only one)."""
    if isinstance(device, list):
        return device[::-1]
    if device.device_type == 'gpu':
        return mx.gpu((device.device_id + 1) % _compat.num_gpus())
    return mx.cpu(1 - device.device_id)


def batches(count=STEPS):
    rs = onp.random.RandomState(0)
    return [rs.uniform(size=(BATCH, 20)).astype('float32') for _ in range(count)]


def build(device, head=10, extra=0, tied=True):
    """The deck's tied network on ``device`` (``head`` outputs, ``extra`` more hidden
    layers before the head, or no tie), every value set from one seed."""
    net = nn.Sequential()
    shared = nn.Dense(8, activation='relu')
    clone = nn.Dense(8, activation='relu')
    net.add(nn.Dense(8, activation='relu'), shared, gp.share(clone, shared) if tied else clone)
    net.add(*[nn.Dense(8, activation='relu') for _ in range(extra)], nn.Dense(head))
    zoo.initialize(net, device)
    net(_compat.zeros((2, 20), nets.devices_of(device)[0]))
    rs = onp.random.RandomState(1)
    for _, p in gp.named_parameters(net):
        values = rs.uniform(-0.5, 0.5, size=p.shape).astype(_compat.param_dtype(p))
        p.set_data(_compat.array_from_numpy(values))
    return net


def train(net, trainer, device, data):
    devices = nets.devices_of(device)
    for x in data:
        parts = onp.split(x, len(devices))
        with autograd.record():
            losses = [((net(_compat.array(part, d)) - 1) ** 2).sum()
                      for part, d in zip(parts, devices)]
        for loss in losses:
            loss.backward()
        trainer.step(BATCH)
    mx.nd.waitall()


def values(net):
    """Every copy of every parameter holding data, as bytes: equal means bit for bit."""
    mx.nd.waitall()
    return {name: [a.asnumpy().tobytes() for a in p.list_data()]
            for name, p in gp.named_parameters(net) if _compat.is_initialized(p)}


# GroupAdaGrad keeps one value per row of a 2-D weight: give it the weights only
WEIGHTS_ONLY = {'groupadagrad'}


def make_trainer(net, name, params=None):
    """A Trainer of OPTIMIZERS' ``name``, or of MXNet's optimizer ``name`` with its
    defaults."""
    optimizer, kwargs = OPTIMIZERS.get(name, (name, dict))
    if params is None:
        params = gp.select(net, 'weight') if name in WEIGHTS_ONLY else net.collect_params()
    return gluon.Trainer(params, optimizer, kwargs())


def straight_and_saved(device, name, path, data):
    """Train STEPS steps straight through; train STEPS/2 on another network and save
    it with its Trainer to ``path``. Returns the straight run's values."""
    straight = build(device)
    train(straight, make_trainer(straight, name), device, data)
    first = build(device)
    trainer = make_trainer(first, name)
    train(first, trainer, device, data[:STEPS // 2])
    gp.save(first, path, trainer=trainer)
    return values(straight)


def resumed(device, name, path, data, **load_options):
    net = build(device)
    trainer = make_trainer(net, name)
    report = gp.load(net, path, trainer=trainer, **load_options)
    train(net, trainer, device, data[STEPS // 2:])
    return net, report


@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_resume_on_another_device_is_bit_for_bit(name, device, tmp_path):
    data = batches()
    path = tmp_path / 'step3.safetensors'
    expected = straight_and_saved(device, name, path, data)
    net, report = resumed(other(device), name, path, data)
    assert len(expected) == 6 and values(net) == expected
    assert sorted(report.optimizer.restored) == ['0.bias', '0.weight', '1.bias', '1.weight',
                                                 '3.bias', '3.weight']
    assert report.optimizer.num_update == STEPS // 2


# SGLD adds Gaussian noise drawn on the device: two runs differ without any checkpoint
EVERY_OPTIMIZER = sorted(set(optimizer.Optimizer.opt_registry) - {'sgld'})


@pytest.mark.parametrize('name', EVERY_OPTIMIZER)
def test_every_registered_optimizer_resumes_on_another_device(name, tmp_path):
    """Each optimizer MXNet registers, with its defaults: whatever its state's layout
    (None, an array, tuples of arrays and None, GroupAdaGrad's one value per row)."""
    data = batches()
    path = tmp_path / 'step3.safetensors'
    expected = straight_and_saved(mx.cpu(0), name, path, data)
    net, report = resumed(mx.cpu(1), name, path, data)
    assert values(net) == expected and report.optimizer.optimizer.lower() == name


def test_resume_without_optimizer_state_is_not_exact(tmp_path):
    """The comparison above can fail: without trainer= Adam restarts its moments."""
    data = batches()
    path = tmp_path / 'step3.safetensors'
    expected = straight_and_saved(mx.cpu(0), 'adam', path, data)
    net = build(mx.cpu(1))
    gp.load(net, path)
    train(net, make_trainer(net, 'adam'), mx.cpu(1), data[STEPS // 2:])
    assert values(net) != expected


@pytest.mark.parametrize('ext', ['.npz', '.params'])
def test_resume_from_every_format(ext, tmp_path):
    data = batches()
    path = tmp_path / f'step3{ext}'
    expected = straight_and_saved(mx.cpu(0), 'adam', path, data)
    net, report = resumed(mx.cpu(1), 'adam', path, data)
    assert values(net) == expected and len(report.optimizer.restored) == 6


def _max_difference(a, b):
    def array(raw):
        return onp.frombuffer(raw[0], onp.float32)
    return max(float(onp.max(onp.abs(array(x) - array(b[n])))) for n, x in a.items())


def _in_order(net):
    """The parameters as a list in the network's order: Gluon's states are keyed by
    position, and a dict would be sorted by name (by global name on MXNet 1.x, whose
    counters differ between two builds of one network)."""
    return list(gp.select(net).values())


def _gluon_resume(name, device, folder, data):
    """Gluon's own way: save_parameters + save_states, then load_parameters on
    ``device`` + load_states into a fresh Trainer."""
    first = build(mx.cpu(0))
    trainer = make_trainer(first, name, _in_order(first))
    train(first, trainer, mx.cpu(0), data[:STEPS // 2])
    first.save_parameters(os.path.join(folder, 'gluon.params'))
    trainer.save_states(os.path.join(folder, 'gluon.states'))
    net = build(device)
    net.load_parameters(os.path.join(folder, 'gluon.params'), **_compat.device_kwargs(device))
    fresh = make_trainer(net, name, _in_order(net))
    fresh.load_states(os.path.join(folder, 'gluon.states'))
    counts = {d: dict(table) for d, table in fresh._optimizer._all_index_update_counts.items()}
    train(net, fresh, device, data[STEPS // 2:])
    return values(net), counts


def test_gluon_save_states_does_not_resume_adam_across_devices(tmp_path):
    """The issue's measurement: Gluon's save_states/load_states resumes Adam exactly on
    cpu(0) but not on cpu(1); SGD with momentum resumes on both. The optimizer counts
    updates per device id: load_states restores device 0's counts only, so on cpu(1)
    Adam's bias correction starts again from step 1."""
    data = batches()
    straight = build(mx.cpu(0))
    train(straight, make_trainer(straight, 'adam', _in_order(straight)), mx.cpu(0), data)
    expected = values(straight)
    same_device, _ = _gluon_resume('adam', mx.cpu(0), str(tmp_path), data)
    other_device, counts = _gluon_resume('adam', mx.cpu(1), str(tmp_path), data)
    assert same_device == expected
    assert set(counts) == {0} and set(counts[0].values()) == {STEPS // 2}
    difference = _max_difference(other_device, expected)
    print(f'Gluon save_states/load_states, Adam, cpu(0) -> cpu(1): max difference '
          f'{difference:.4g} after {STEPS // 2} + {STEPS // 2} steps')
    assert difference > 0
    sgd = build(mx.cpu(0))
    train(sgd, make_trainer(sgd, 'sgd-momentum', _in_order(sgd)), mx.cpu(0), data)
    assert _gluon_resume('sgd-momentum', mx.cpu(1), str(tmp_path), data)[0] == values(sgd)


@pytest.mark.parametrize('scheduler', [
    lambda: mx.lr_scheduler.FactorScheduler(2, 0.5, warmup_steps=1, warmup_begin_lr=0.01),
    lambda: mx.lr_scheduler.MultiFactorScheduler([1, 3, 4], 0.7),
    lambda: mx.lr_scheduler.PolyScheduler(8, base_lr=0.1, pwr=2, final_lr=0.01),
    lambda: mx.lr_scheduler.CosineScheduler(8, base_lr=0.1, final_lr=0.01, warmup_steps=2),
], ids=['factor-warmup', 'multifactor', 'poly', 'cosine-warmup'])
def test_every_builtin_scheduler_resumes(scheduler, tmp_path):
    data = batches()

    def trainer_for(net):
        return gluon.Trainer(net.collect_params(), 'sgd',
                             {'momentum': 0.9, 'lr_scheduler': scheduler()})
    straight = build(mx.cpu(0))
    train(straight, trainer_for(straight), mx.cpu(0), data)
    first = build(mx.cpu(0))
    trainer = trainer_for(first)
    train(first, trainer, mx.cpu(0), data[:STEPS // 2])
    gp.save(first, tmp_path / 'ck.safetensors', trainer=trainer)
    net = build(mx.cpu(1))
    fresh = trainer_for(net)
    gp.load(net, tmp_path / 'ck.safetensors', trainer=fresh)
    assert vars(fresh.optimizer.lr_scheduler) == vars(trainer.optimizer.lr_scheduler)
    train(net, fresh, mx.cpu(1), data[STEPS // 2:])
    assert values(net) == values(straight)


class Scale(gluon.Block):
    """One float16 parameter, elementwise (float16 Dense has no CPU kernel)."""

    def __init__(self):
        super().__init__()
        self.w = gluon.Parameter('w', shape=(20,), dtype='float16')

    def forward(self, x):
        return x * self.w.data(_compat.array_device(x))


def test_multi_precision_master_copy_resumes(tmp_path):
    """float16 weights with multi_precision: the state holds a float32 master copy."""
    def run(device, net, trainer, data):
        for x in data:
            with autograd.record():
                loss = ((net(_compat.array(x, device, dtype='float16')) - 1) ** 2).sum()
            loss.backward()
            trainer.step(BATCH)
        mx.nd.waitall()

    def fresh(device):
        net = Scale()
        net.w.initialize(mx.init.One(), **_compat.device_kwargs(device))
        return net, gluon.Trainer(gp.select(net), 'sgd', {
            'learning_rate': 0.01, 'momentum': 0.9, 'multi_precision': True})
    data = batches()
    straight, trainer = fresh(mx.cpu(0))
    run(mx.cpu(0), straight, trainer, data)
    first, trainer = fresh(mx.cpu(0))
    run(mx.cpu(0), first, trainer, data[:STEPS // 2])
    gp.save(first, tmp_path / 'fp16.safetensors', trainer=trainer)
    record = gp.inspect(tmp_path / 'fp16.safetensors').optimizer.record
    assert record['params']['w']['state'] == {'tuple': ['array', 'array']}
    net, trainer = fresh(mx.cpu(1))
    gp.load(net, tmp_path / 'fp16.safetensors', trainer=trainer)
    run(mx.cpu(1), net, trainer, data[STEPS // 2:])
    assert values(net) == values(straight)


# ---------------------------------------------------------------- what the file holds


def test_tied_state_is_stored_once_under_the_first_name(tmp_path):
    net = build(mx.cpu(0))
    trainer = make_trainer(net, 'adam')
    train(net, trainer, mx.cpu(0), batches(2))
    gp.save(net, tmp_path / 'ck.safetensors', trainer=trainer)
    state = gp.inspect(tmp_path / 'ck.safetensors').optimizer
    assert state.record['params']['1.weight']['tied'] == ['2.weight']
    assert '2.weight' not in state.record['params']
    names = sorted(t.name for t in state.tensors)
    assert len(names) == 12 and not any('2.weight' in n for n in names)   # 6 params x (m, v)
    assert f'{OPTIMIZER_PREFIX}1.weight/0' in names
    assert state.record['params']['1.weight']['count'] == 2
    assert state.record['optimizer'] == 'Adam' and state.record['num_update'] == 2


def test_network_tied_differently_gets_the_state_under_each_name(tmp_path):
    net = build(mx.cpu(0))
    trainer = make_trainer(net, 'sgd-momentum')
    train(net, trainer, mx.cpu(0), batches(2))
    gp.save(net, tmp_path / 'ck.safetensors', trainer=trainer)
    plain = build(mx.cpu(0), tied=False)
    fresh = gluon.Trainer(plain.collect_params(), 'sgd', {'momentum': 0.9})
    with pytest.warns(UserWarning, match='the file ties'):
        report = gp.load(plain, tmp_path / 'ck.safetensors', trainer=fresh)
    assert sorted(report.optimizer.restored) == sorted(n for n, _ in gp.named_parameters(plain))
    momentum = {n: _state_arrays(fresh, plain)[n][0] for n in ('1.weight', '2.weight')}
    assert onp.array_equal(momentum['1.weight'], momentum['2.weight'])
    assert momentum['1.weight'].any()


def _state_arrays(trainer, net):
    """{name: [state arrays]} read from the Trainer's first updater."""
    mx.nd.waitall()
    names = {id(p): n for n, p in gp.named_parameters(net)}
    out = {}
    for i, p in enumerate(trainer._params):
        state = trainer._updaters[0].states.get(i)
        leaves = list(state) if isinstance(state, (tuple, list)) else [state]
        out[names[id(p)]] = [a.asnumpy() for a in leaves if a is not None]
    return out


def saved(tmp_path, name='adam', ext='.safetensors', device=None, steps=2):
    """A checkpoint of the deck's tied network and its Trainer after ``steps`` steps."""
    device = device or mx.cpu(0)
    net = build(device)
    trainer = make_trainer(net, name)
    train(net, trainer, device, batches(steps))
    path = tmp_path / f'ck{ext}'
    gp.save(net, path, trainer=trainer)
    return path, net, trainer


def _file_state(path):
    """{name: [arrays]} of the optimizer state as the file stores it, read with numpy."""
    from safetensors.numpy import load_file
    tensors = load_file(str(path))
    out: dict = {}
    for key in sorted(k for k in tensors if k.startswith(OPTIMIZER_PREFIX)):
        name, k = key[len(OPTIMIZER_PREFIX):].rsplit('/', 1)
        out.setdefault(name, []).insert(int(k), tensors[key])
    return out


# ---------------------------------------------------------------- strict rules


def test_new_head_is_reported_and_strict_load_changes_nothing(tmp_path):
    path, _, _ = saved(tmp_path)
    net = build(mx.cpu(1), head=3, extra=1)
    before = values(net)
    trainer = make_trainer(net, 'adam')
    with pytest.raises(CheckpointError) as info:
        gp.load(net, path, trainer=trainer)
    message = str(info.value)
    assert 'cannot load into Sequential' in message            # the parameters' section
    assert 'cannot restore the Adam state into the Trainer (2 missing, 0 unexpected, ' \
           '2 mismatched)' in message
    assert "no state in the file: '4.weight', '4.bias'" in message
    assert ("'3.weight': the Trainer's Adam makes state for (8, 8) float32, the file holds "
            "state for (10, 8) float32") in message
    assert values(net) == before and not trainer._updaters[0].states


def test_new_head_loads_what_matches_with_strict_false(tmp_path):
    path, _, trainer = saved(tmp_path)
    net = build(mx.cpu(1), head=3, extra=1)
    fresh = make_trainer(net, 'adam')
    report = gp.load(net, path, trainer=fresh, strict=False).optimizer
    assert sorted(report.restored) == ['0.bias', '0.weight', '1.bias', '1.weight']
    assert report.missing == ['4.weight', '4.bias']
    assert [m[0] for m in report.mismatched] == ['3.weight', '3.bias']
    assert report.unexpected == []
    restored = _state_arrays(fresh, net)
    for name, arrays in _file_state(path).items():
        if name in report.restored:
            assert all(onp.array_equal(a, b) for a, b in zip(restored[name], arrays))
    assert fresh.optimizer._all_index_update_counts[1] == {0: 2, 1: 2, 2: 2, 3: 2}
    train(net, fresh, mx.cpu(1), batches(1))      # the new head starts fresh


def test_deferred_parameters_the_file_cannot_fill_are_refused_before_loading(tmp_path):
    path, _, _ = saved(tmp_path)
    net = nn.Sequential()       # never run: every shape deferred
    net.add(*[nn.Dense(8, activation='relu') for _ in range(4)], nn.Dense(10))
    zoo.initialize(net, mx.cpu(0))
    trainer = gluon.Trainer(net.collect_params(), 'adam')
    before = values(net)            # the biases (known shapes) hold data already
    with pytest.raises(CheckpointError, match=r"optimizes '3.weight', '4.weight', which hold no "
                                              r"data yet .* run one forward pass"):
        gp.load(net, path, trainer=trainer, strict=False)
    assert values(net) == before and not _compat.is_initialized(net[0].weight)


def _trainable(net):
    return {n: p for n, p in gp.select(net).items() if p.grad_req != 'null'}


def test_frozen_layer_left_out_of_the_trainer_is_unexpected(tmp_path):
    path, _, _ = saved(tmp_path)
    net = build(mx.cpu(0))
    gp.freeze(net, r'^0\.')
    trainer = make_trainer(net, 'adam', params=_trainable(net))
    with pytest.raises(CheckpointError, match=r"not optimized by the Trainer: '0.weight', "
                                              r"'0.bias'"):
        gp.load(net, path, trainer=trainer)
    report = gp.load(net, path, trainer=trainer, strict=False).optimizer
    assert report.unexpected == ['0.weight', '0.bias'] and len(report.restored) == 4
    train(net, trainer, mx.cpu(0), batches(1))


def test_select_restricts_the_optimizer_state_too(tmp_path):
    path, _, _ = saved(tmp_path)
    net = build(mx.cpu(0))
    trainer = make_trainer(net, 'adam')
    report = gp.load(net, path, trainer=trainer, select=r'^3\.').optimizer
    assert sorted(report.restored) == ['3.bias', '3.weight']
    assert report.missing == [] and report.unexpected == []


# ---------------------------------------------------------------- fresh state, no trainer


def test_file_without_optimizer_state_warns_and_reports_fresh(tmp_path):
    net = build(mx.cpu(0))
    gp.save(net, tmp_path / 'weights.safetensors')
    fresh = build(mx.cpu(0))
    trainer = make_trainer(fresh, 'adam')
    with pytest.warns(UserWarning, match='holds no optimizer state .* start fresh'):
        report = gp.load(fresh, tmp_path / 'weights.safetensors', trainer=trainer)
    assert report.optimizer.fresh and report.optimizer.optimizer == 'Adam'
    assert 'fresh state' in str(report)
    assert values(fresh) == values(net) and not trainer._updaters[0].states


def test_load_without_trainer_ignores_the_optimizer_state(tmp_path):
    path, net, _ = saved(tmp_path)
    fresh = build(mx.cpu(1))
    report = gp.load(fresh, path)                  # strict, and no warning (errors here)
    assert report.unexpected == [] and report.optimizer is None
    assert not any(n.startswith(OPTIMIZER_PREFIX) for n in report.loaded)
    assert values(fresh) == {n: [v[0]] for n, v in values(net).items()}


def test_mxnet_load_parameters_reads_a_params_file_with_optimizer_state(tmp_path):
    path, net, _ = saved(tmp_path, ext='.params')
    fresh = build(mx.cpu(0))
    # MXNet's own reader with its defaults: allow_extra=False would refuse any name that
    # is not a parameter, so it sees none of the optimizer state
    fresh.load_parameters(str(path))
    assert values(fresh) == values(net)


# ---------------------------------------------------------------- what must match


def test_another_optimizer_is_refused_before_anything_changes(tmp_path):
    path, _, _ = saved(tmp_path)
    net = build(mx.cpu(0), head=10)
    before = values(net)
    with pytest.raises(CheckpointError, match="holds Adam state but the Trainer's optimizer "
                                              "is SGD; build the Trainer with 'adam'"):
        gp.load(net, path, trainer=make_trainer(net, 'sgd-momentum'))
    assert values(net) == before


def test_missing_scheduler_is_refused(tmp_path):
    path, _, _ = saved(tmp_path, name='rmsprop-factor-scheduler')
    net = build(mx.cpu(0))
    trainer = gluon.Trainer(net.collect_params(), 'rmsprop')
    with pytest.raises(CheckpointError, match='lr_scheduler FactorScheduler but the Trainer'):
        gp.load(net, path, trainer=trainer)


def test_file_hyperparameters_replace_the_trainers(tmp_path):
    path, _, trainer = saved(tmp_path, name='sgd-momentum')
    net = build(mx.cpu(0))
    fresh = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.5, 'momentum': 0.5})
    report = gp.load(net, path, trainer=fresh).optimizer
    assert ('lr', 0.5, 0.1) in report.changed and ('momentum', 0.5, 0.9) in report.changed
    assert ('wd', 0.0, 1e-3) in report.changed
    assert (fresh.optimizer.lr, fresh.optimizer.momentum) == (0.1, 0.9)
    assert fresh.optimizer.num_update == trainer.optimizer.num_update == 2


@pytest.mark.parametrize('built,load_on', [([mx.cpu(0), mx.cpu(1)], 'cpu(0)'),
                                           (mx.cpu(0), 'cpu(1)')])
def test_trainer_built_for_other_devices_is_refused_before_anything_changes(built, load_on,
                                                                            tmp_path):
    """A Trainer reads its parameters on the devices it was built for: build it after
    placing the network."""
    path, _, _ = saved(tmp_path)
    net = build(built)
    before = values(net)
    trainer = make_trainer(net, 'adam')
    with pytest.raises(CheckpointError, match=r'the Trainer was built for parameters on '
                                              r'cpu\(0\).* but they will live on '
                                              + load_on.replace('(', r'\(').replace(')', r'\)')
                                              + r'; place the network first'):
        gp.load(net, path, device=load_on, trainer=trainer)
    assert values(net) == before


@pytest.mark.parametrize('source,target', [([mx.cpu(0), mx.cpu(1)], mx.cpu(0)),
                                           (mx.cpu(1), [mx.cpu(0), mx.cpu(1)])],
                         ids=['kvstore-to-device', 'device-to-kvstore'])
def test_state_moves_between_kvstore_and_device_updaters(source, target, tmp_path):
    """Two devices update on the kvstore (states in its updater), one device in the
    Trainer's own updater: the state by name goes from one to the other."""
    path, _, trainer = saved(tmp_path, device=source)
    assert bool(trainer._update_on_kvstore) == isinstance(source, list)
    net = build(target)
    fresh = make_trainer(net, 'adam')
    gp.load(net, path, trainer=fresh)
    stored = _file_state(path)
    on_kvstore = isinstance(target, list)
    updater = fresh._kvstore._updater if on_kvstore else fresh._updaters[0]
    names = {id(p): n for n, p in gp.named_parameters(net)}
    for i, p in enumerate(fresh._params):
        key = _compat.kvstore_key(fresh, p) if on_kvstore else i
        assert all(onp.array_equal(a.asnumpy(), b)
                   for a, b in zip(updater.states[key], stored[names[id(p)]]))
    counts = fresh.optimizer._all_index_update_counts
    assert all(set(counts[d].values()) == {2} for d in counts if counts[d])
    train(net, fresh, target, batches(1))


# ---------------------------------------------------------------- saving errors


def test_save_refuses_a_trainer_over_parameters_outside_the_network(tmp_path):
    net = build(mx.cpu(0))
    trainer = make_trainer(net, 'adam')
    with pytest.raises(CheckpointError, match='optimizes 4 parameters that Dense does not hold'):
        gp.save(net[0], tmp_path / 'part.safetensors', trainer=trainer)
    assert not (tmp_path / 'part.safetensors').exists()


def test_save_refuses_what_is_not_a_trainer(tmp_path):
    net = build(mx.cpu(0))
    with pytest.raises(OptionError, match='trainer= must be a gluon.Trainer, found dict'):
        gp.save(net, tmp_path / 'ck.safetensors', trainer={})


class _Custom(mx.lr_scheduler.FactorScheduler):
    def __init__(self):
        super().__init__(2, 0.5)
        self.history = {'epochs': []}


def test_scheduler_state_json_cannot_hold_is_refused_and_the_old_file_kept(tmp_path):
    path, _, _ = saved(tmp_path, name='sgd-momentum')
    before = path.read_bytes()
    net = build(mx.cpu(0))
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'lr_scheduler': _Custom()})
    with pytest.raises(CheckpointError, match="attribute 'history' holds a dict"):
        gp.save(net, path, trainer=trainer)
    assert path.read_bytes() == before


# ---------------------------------------------------------------- files: inspect, verify, convert


def test_inspect_shows_the_optimizer_section(tmp_path):
    path, _, _ = saved(tmp_path, name='rmsprop-factor-scheduler')
    info = gp.inspect(path)
    text = str(info)
    assert 'Optimizer: RMSProp, num_update 2, state for 6 of 6 parameters (6 tensors, 1.29 KiB)' \
        in text
    assert 'update counts: 2 (6 parameters)' in text
    assert 'lr_scheduler: FactorScheduler base_lr=0.01, count=0' in text
    assert 'Total params: 330 ' in text and OPTIMIZER_PREFIX not in text
    as_dict = info.to_dict()
    assert as_dict['optimizer']['record']['lr_scheduler']['type'] == 'FactorScheduler'
    assert json.dumps(as_dict)


@pytest.mark.parametrize('ext', ['.safetensors', '.npz', '.params'])
def test_verify_checks_the_optimizer_state_and_load_without_trainer_skips_it(ext, tmp_path):
    path, _, _ = saved(tmp_path, ext=ext)
    state = gp.inspect(path).optimizer.tensors[0]
    data = bytearray(path.read_bytes())
    data[state.crc_start + state.crc_length - 1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match='do not match their checksums') as info:
        gp.verify(path)
    assert state.name in str(info.value)
    net = build(mx.cpu(0))
    gp.load(net, path)
    with pytest.raises(CheckpointError, match=state.name):
        gp.load(net, path, trainer=make_trainer(net, 'adam'))


def test_convert_keeps_the_optimizer_state_in_every_format(tmp_path):
    data = batches()
    first = tmp_path / 'ck.safetensors'
    expected = straight_and_saved(mx.cpu(0), 'nag-multifactor-scheduler', first, data)
    chain = [first, tmp_path / 'ck.npz', tmp_path / 'ck.params', tmp_path / 'back.safetensors']
    for src, dst in zip(chain, chain[1:]):
        from gluonparams.checkpoint import convert
        assert convert(src, dst).optimizer.record == gp.inspect(first).optimizer.record
    assert _file_state(chain[-1]).keys() == _file_state(first).keys()
    assert all(onp.array_equal(a, b) for name, arrays in _file_state(first).items()
               for a, b in zip(arrays, _file_state(chain[-1])[name]))
    for path in chain[1:3]:
        net, _ = resumed(mx.cpu(1), 'nag-multifactor-scheduler', path, data)
        assert values(net) == expected


def test_corrupt_newer_or_other_mxnet_record_is_a_clear_error(tmp_path):
    from safetensors.numpy import save_file
    path, _, _ = saved(tmp_path)
    net = build(mx.cpu(0))
    tensors = {n: p.data().asnumpy() for n, p in gp.named_parameters(net)}
    other_major = '1.9.1' if _compat.MXNET_VERSION.startswith('2') else '2.0.0'
    written = gp.inspect(path).optimizer.record
    assert written['mxnet'] == _compat.MXNET_VERSION
    for record, message in [({'format': 1}, 'lacks or misspells'),
                            ({'format': 99}, 'written by a newer gluonparams'),
                            ({**written, 'mxnet': other_major},
                             f'written with MXNet {other_major}; .* resume on MXNet')]:
        bad = tmp_path / 'bad.safetensors'
        save_file(tensors, str(bad), metadata={'gluonparams.optimizer': json.dumps(record)})
        assert gp.inspect(bad).optimizer.record == record
        with pytest.raises(CheckpointError, match=message):
            gp.load(net, bad, trainer=make_trainer(net, 'adam'))
    save_file(tensors, str(bad), metadata={'gluonparams.optimizer': '[1, 2'})
    with pytest.raises(CheckpointError, match='record is not a JSON object'):
        gp.inspect(bad)


def test_strict_error_lists_parameter_and_optimizer_problems_together(tmp_path):
    path, _, _ = saved(tmp_path)
    net = build(mx.cpu(0), extra=1)
    with pytest.raises(CheckpointError) as info:
        gp.load(net, path, trainer=make_trainer(net, 'adam'))
    text = str(info.value)
    assert text.index('cannot load into Sequential') < text.index('cannot restore the Adam')
