"""A worker of the KVStore clusters test_distributed.py starts: ``python dist_worker.py
SCENARIO FOLDER``. Each outcome is printed as one line ``RESULT <json>`` the test reads.

Scenarios:
  replicas   equal replicas; one parameter one ulp off on the last rank; save from rank 0
             and load on every worker; then the same with an optimizer on the servers
  trainer    a Trainer whose servers update the weights (the 'dist' default) takes a
             step: loading into it is refused, nothing changes; its state cannot be saved
  kill       save once; then, during a second save, write FOLDER/ready-<rank> holding the
             process id (rank 0: its file written, not yet renamed; the others: on
             arrival) and wait to be killed; every survivor reports its error
  background train with the optimizer state on the workers; at step 3 save in the
             background with trainer= (rank 0's writer slowed down) and train on; every
             worker waits; then a background save that fails, the next save, and a save
             never waited for that the next one completes
"""

import json
import os
import sys
import time

import mxnet as mx
import numpy as onp

import gluonparams as gp
from gluonparams import _compat
from gluonparams.checkpoint.formats import safetensors as _safetensors_format
from gluonparams.distributed import _channel as _kv_channel

import nets

TIMEOUT = 30.0    # seconds a worker waits for the others in these tests (a loaded machine)
LOST = 3.0        # ... where a worker is killed: the survivors' wait that must end


def report(step, **fields):
    print('RESULT ' + json.dumps({'step': step, **fields}), flush=True)


def outcome(step, call):
    """Run ``call()``; report its value or its error (type, message, divergent)."""
    try:
        value = call()
    except gp.GluonParamsError as e:
        divergent = [[d.name, d.ranks] for d in getattr(e, 'divergent', [])
                     if hasattr(d, 'ranks')]
        report(step, error=type(e).__name__, message=str(e), divergent=divergent)
        return
    report(step, value=value)


def network(kv):
    mx.random.seed(7)                       # the same initial values on every worker
    return nets.deck_tied([mx.cpu(0), mx.cpu(1)])


def one_ulp_off(net, name, rank, kv):
    """On ``rank``, move the first value of parameter ``name`` to the next float32."""
    if kv.rank == rank:
        param = gp.get(net, name)
        values = param.data(mx.cpu(0)).asnumpy()
        values.flat[0] = onp.nextafter(values.flat[0], onp.float32(onp.inf))
        param.set_data(_compat.array_from_numpy(values))


def replicas(kv, folder):
    net = network(kv)
    last = kv.num_workers - 1
    for mode in ('exact', 'optimizer'):
        if mode == 'optimizer':
            kv.set_optimizer(mx.optimizer.create('sgd', learning_rate=0.1, momentum=0.9))
        outcome(f'{mode}: equal', lambda: gp.check_replicas(net, kvstore=kv, timeout=TIMEOUT))
        one_ulp_off(net, '3.weight', last, kv)
        outcome(f'{mode}: one ulp', lambda: gp.check_replicas(net, kvstore=kv, timeout=TIMEOUT))
        path = os.path.join(folder, f'{mode}.safetensors')
        outcome(f'{mode}: save', lambda: gp.save(net, path, kvstore=kv, timeout=TIMEOUT,
                                                 metadata={'step': '7'}))
        outcome(f'{mode}: file on return', lambda: [gp.verify(path).checked,
                                                    gp.inspect(path).metadata])
        outcome(f'{mode}: load', lambda: str(gp.load(net, path, kvstore=kv, timeout=TIMEOUT)))
        outcome(f'{mode}: equal after load',
                lambda: gp.check_replicas(net, kvstore=kv, timeout=TIMEOUT))
    report('optimizer mode', value=_kv_channel.channel_for(kv).optimizer_mode)


def trainer(kv, folder):
    from mxnet import autograd, gluon
    net = network(kv)
    path = os.path.join(folder, 'model.safetensors')
    gp.save(net, path, kvstore=kv, timeout=TIMEOUT)
    step = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1}, kvstore=kv)
    with autograd.record():
        loss = sum(net(_compat.array_from_numpy(onp.ones((2, 20), 'float32'), device)).sum()
                   for device in net_devices(net))
    loss.backward()
    step.step(2)
    before = values(net)
    outcome('load', lambda: gp.load(net, path))
    outcome('load with kvstore', lambda: gp.load(net, path, kvstore=kv, timeout=TIMEOUT))
    outcome('unchanged', lambda: all(onp.array_equal(v, before[n])
                                     for n, v in values(net).items()))
    outcome('replicas', lambda: len(gp.check_replicas(net, kvstore=kv, timeout=TIMEOUT)))
    outcome('save state', lambda: gp.save(net, path, kvstore=kv, trainer=step, timeout=TIMEOUT))
    outcome('file kept', lambda: gp.verify(path).checked == list(before))


def net_devices(net):
    return _compat.param_devices(next(iter(gp.named_parameters(net)))[1])


def values(net):
    _compat.sync()
    return {name: p.list_data()[0].asnumpy() for name, p in gp.named_parameters(net)}


def kill(kv, folder, victim):
    net = network(kv)
    path = os.path.join(folder, 'model.safetensors')
    gp.save(net, path, kvstore=kv, timeout=TIMEOUT)
    report('first save', value=True)
    for _, param in gp.named_parameters(net):          # the second save would differ
        param.set_data(param.data(mx.cpu(0)) * 2)
    write = _safetensors_format.write

    def write_then_wait(*args, **kwargs):
        write(*args, **kwargs)               # every byte in the temporary file
        wait_to_be_killed(folder, kv.rank)
    if kv.rank == victim == 0:
        _safetensors_format.write = write_then_wait
    elif kv.rank == victim:
        wait_to_be_killed(folder, kv.rank)
    outcome('second save', lambda: gp.save(net, path, kvstore=kv, timeout=LOST))
    outcome('after the timeout', lambda: gp.check_replicas(net, kvstore=kv, timeout=LOST))


def wait_to_be_killed(folder, rank):
    with open(os.path.join(folder, f'ready-{rank}.tmp'), 'w') as f:
        f.write(str(os.getpid()))
    os.replace(os.path.join(folder, f'ready-{rank}.tmp'), os.path.join(folder, f'ready-{rank}'))
    time.sleep(60)


def background(kv, folder):
    from mxnet import autograd, gluon
    from safetensors.numpy import load_file

    from gluonparams.checkpoint import _background
    net = network(kv)
    trainer = gluon.Trainer(net.collect_params(), 'sgd', {'learning_rate': 0.1, 'momentum': 0.9},
                            kvstore=kv, update_on_kvstore=False)
    rng = onp.random.default_rng(kv.rank)

    def step():
        with autograd.record():
            loss = sum((net(_compat.array_from_numpy(rng.uniform(size=(2, 20)).astype('float32'),
                                                     device)) ** 2).sum()
                       for device in net_devices(net))
        loss.backward()
        trainer.step(2)
    for _ in range(3):
        step()
    real = _background.host_values

    def slow(array):                       # 12 tensors: about 0.6 s of writing
        time.sleep(0.05)
        return real(array)
    _background.host_values = slow
    path = os.path.join(folder, 'step3.safetensors')
    handle = gp.save(net, path, trainer=trainer, kvstore=kv, background=True, timeout=TIMEOUT)
    if kv.rank == 0:                       # the same values, saved at once, for comparison
        gp.save(net, os.path.join(folder, 'reference.safetensors'), trainer=trainer)
    for _ in range(3):
        step()
    outcome('wait', lambda: [handle.wait(), handle.done(), len(gp.verify(path).checked)])
    if kv.rank == 0:
        got = load_file(path)
        expected = load_file(os.path.join(folder, 'reference.safetensors'))
        outcome('file holds the values of the call', lambda: [
            sorted(got) == sorted(expected) and all(got[n].tobytes() == expected[n].tobytes()
                                                    for n in got),
            gp.inspect(path).optimizer.record == gp.inspect(os.path.join(
                folder, 'reference.safetensors')).optimizer.record])
    _background.host_values = real
    failing = gp.save(net, os.path.join(folder, 'missing', 'x.safetensors'), kvstore=kv,
                      background=True, timeout=TIMEOUT)
    outcome('failed save', failing.wait)
    outcome('next save', lambda: gp.save(net, path, kvstore=kv, timeout=TIMEOUT))
    outcome('save after', lambda: gp.save(net, path, kvstore=kv, timeout=TIMEOUT))
    first = gp.save(net, path, kvstore=kv, background=True, timeout=TIMEOUT)
    second = gp.save(net, os.path.join(folder, 'other.safetensors'), kvstore=kv,
                     background=True, timeout=TIMEOUT)
    outcome('completed by the next save', lambda: [first.done(), second.wait(), second.done()])


def main():
    scenario, folder = sys.argv[1], sys.argv[2]
    kv = mx.kv.create('dist_sync')
    report('started', rank=kv.rank, workers=kv.num_workers, pid=os.getpid())
    if scenario == 'replicas':
        replicas(kv, folder)
    elif scenario == 'trainer':
        trainer(kv, folder)
    elif scenario == 'background':
        background(kv, folder)
    else:
        kill(kv, folder, int(sys.argv[3]))


if __name__ == '__main__':
    main()
