"""Fine-tuning: freeze a backbone, train the head, no weight decay on biases and norms.

``gp.freeze`` sets ``grad_req='null'`` on a selection and remembers each parameter's
own ``grad_req``; ``gp.unfreeze`` gives it back (BatchNorm running statistics, which
never train, stay ``'null'``). A ``gluon.Trainer`` reads ``grad_req``, ``lr_mult`` and
``wd_mult`` at every step, so create it once, over every parameter, and freeze and
unfreeze as you go.
"""
import mxnet as mx
from mxnet import autograd, gluon, np, npx
from mxnet.gluon.model_zoo import vision

import gluonparams as gp

npx.set_np()
mx.random.seed(0)
net = vision.get_model('resnet18_v1', classes=10)
net.initialize()
X, y = np.random.uniform(size=(4, 3, 32, 32)), np.array([0, 1, 2, 3])
net(X)

frozen = gp.freeze(net, '^features')
exempt = gp.no_weight_decay(net)
trainer = gluon.Trainer(gp.select(net), 'sgd', {'learning_rate': 0.1, 'wd': 1e-4})
print(f'frozen: {len(frozen)} backbone parameters; no weight decay on {len(exempt)} '
      f'(biases, gamma, beta)')


def train(steps, train_mode):
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for _ in range(steps):
        # train_mode=False keeps BatchNorm in inference mode, so its running
        # statistics (not parameters a Trainer updates) stay as they are too
        with autograd.record(train_mode=train_mode):
            loss = loss_fn(net(X), y).mean()
        loss.backward()
        trainer.step(1)
    return float(loss)


def snapshot():
    return {name: p.data().copy() for name, p in gp.select(net).items()}


def changed(before):
    return [name for name, p in gp.select(net).items() if (p.data() != before[name]).any()]


before = snapshot()
print(f'head only, loss after 3 steps: {train(3, train_mode=False):.3f}')
moved = changed(before)
print('changed:', moved)
print('backbone parameters changed:', sum(n.startswith('features') for n in moved))

thawed = gp.unfreeze(net)
print(f'unfrozen: {len(thawed)}; running_mean grad_req:',
      net.features[1].running_mean.grad_req)
trainer.set_learning_rate(0.01)       # the usual smaller step once the backbone trains
before = snapshot()
print(f'whole network, loss after 3 more steps: {train(3, train_mode=True):.3f}')
print('unfrozen parameters changed:', sum(n in thawed for n in changed(before)), 'of',
      len(thawed))
