"""A deployed model back into its Python network, then fine-tuned.

``HybridBlock.export`` writes a graph and its parameters (``P-symbol.json`` and
``P-0000.params``) for deployment. ``SymbolBlock.imports`` runs them, but as a graph:
no Python class, no blocks to freeze or replace. ``gp.load`` puts the same file into
the network's own Python class: its names (``arg:``/``aux:`` keys; on MXNet 1.x,
global names such as ``mobilenet0_conv0_weight`` whose counter differs in a network
built again) are matched by rules the report names, every shape is checked, and the
network then computes bit for bit what ``SymbolBlock.imports`` computes.
"""
import os
import tempfile
import warnings

import mxnet as mx
from mxnet import autograd, gluon, np, npx
from mxnet.gluon.model_zoo import vision

import gluonparams as gp

npx.set_np()
mx.random.seed(0)
X, y = np.random.uniform(size=(8, 3, 32, 32)), np.array([0, 1, 2, 3, 4, 5, 6, 7])
folder = tempfile.mkdtemp()
prefix = os.path.join(folder, 'mobilenet')

# Someone trained a MobileNet (a few steps here) and exported it for deployment.
deployed = vision.get_model('mobilenet0.25', classes=10)
deployed.initialize()
deployed.hybridize()
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
trainer = gluon.Trainer(deployed.collect_params(), 'sgd', {'learning_rate': 0.1})
for _ in range(3):
    with autograd.record():       # training mode: BatchNorm's running statistics move too
        loss = loss_fn(deployed(X), y).mean()
    loss.backward()
    trainer.step(1)
deployed.export(prefix)           # mobilenet-symbol.json, mobilenet-0000.params

# You want it back as a Python network: build the same class, load the file.
net = vision.get_model('mobilenet0.25', classes=10)
net.initialize()
net(X)                       # settles every shape, so each one is checked
report = gp.load(net, prefix + '-0000.params')   # reads mobilenet-symbol.json beside it
print(f'loaded {len(report.loaded)} of {len(list(gp.named_parameters(net)))} parameters')
print('matched by:', sorted(set(report.matched_by.values())))

with warnings.catch_warnings():       # MXNet cannot tell the input's dtype before a call
    warnings.filterwarnings('ignore', message='Cannot decide type')
    graph = gluon.SymbolBlock.imports(prefix + '-symbol.json', ['data'], prefix + '-0000.params')
net.hybridize()
same = (net(X) == graph(X)).all()
print('same outputs as SymbolBlock.imports:', bool(same))

# Fine-tune: the backbone frozen, the classifier trained (BatchNorm in inference mode).
gp.freeze(net, '^features')
trainer = gluon.Trainer(gp.select(net), 'sgd', {'learning_rate': 0.5})
backbone = {n: p.data().copy() for n, p in gp.select(net, '^features').items()}
losses = []
for _ in range(5):
    with autograd.record(train_mode=False):
        loss = loss_fn(net(X), y).mean()
    loss.backward()
    trainer.step(1)
    losses.append(float(loss))
print(f'fine-tuning loss: {losses[0]:.3f} -> {losses[-1]:.3f}')
print('backbone unchanged:', all(bool((p.data() == backbone[n]).all())
                                 for n, p in gp.select(net, '^features').items()))

# Saved with gluonparams: structural names, checksums; gp.load reads it into the class.
gp.save(net, os.path.join(folder, 'finetuned.safetensors'))
print('saved names begin:', [t.name for t in gp.inspect(
    os.path.join(folder, 'finetuned.safetensors')).tensors][:2])
for name in os.listdir(folder):
    os.remove(os.path.join(folder, name))
os.rmdir(folder)
