"""Tied embeddings: a small language model whose output projection is its input embedding.

The deck: "Tied embeddings: input embedding and output softmax projection in a language
model share weights, saves |V| * d parameters". This example builds such a model, proves
the tie with ``gp.assert_tied`` and ``gp.check_ties``, trains it (gradients from both uses
accumulate in the one Parameter), then shows what a refactor that silently unties the
model looks like: a checkpoint loads fine, the values are equal, and ``gp.check_ties``
and ``gp.find_copies`` say that the tie is gone.

MXNet 2.0 spells the tie ``self.decoder.weight = self.embed.weight``; MXNet 1.9.1 refuses
that assignment. ``gp.share(self.decoder, self.embed)`` makes the same tie on both.
"""

import os
import tempfile
import warnings

import numpy as onp
from mxnet import autograd, gluon, np, npx
from mxnet.gluon import nn

import gluonparams as gp

npx.set_np()
# MXNet 2.0 initializes a tied Parameter once per name and warns the second time: harmless
warnings.filterwarnings('ignore', message='.*already initialized')
VOCAB, DIM = 50, 16
TIES = [['embed.weight', 'decoder.weight']]


class TinyLM(gluon.Block):
    """Embedding, one hidden layer, and a decoder that reuses the embedding matrix."""

    def __init__(self, tie=True):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, DIM)
        self.hidden = nn.Dense(DIM, flatten=False, activation='tanh')
        self.decoder = nn.Dense(VOCAB, flatten=False)
        if tie:
            gp.share(self.decoder, self.embed)   # decoder.weight IS embed.weight, (50, 16)

    def forward(self, tokens):
        return self.decoder(self.hidden(self.embed(tokens)))


tokens = np.array(onp.random.RandomState(0).randint(0, VOCAB, size=(8, 12)), dtype='float32')
inputs, targets = tokens[:, :-1], tokens[:, 1:]

lm = TinyLM()
lm.initialize()
lm(inputs)

gp.assert_tied(lm, 'embed.weight', 'decoder.weight')   # one Parameter, one buffer
gp.check_ties(lm, TIES)                                # and no other tie
print('tie groups:', gp.tie_groups(lm))
stored = gp.summary(lm, file=None).total_params
untied = sum(p.data().size for _, p in gp.named_parameters(lm, remove_duplicate=False))
print(f'parameters stored: {stored:,} (untied: {untied:,}, saved |V| * d = {VOCAB * DIM:,})')

trainer = gluon.Trainer(lm.collect_params(), 'adam', {'learning_rate': 0.05})
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
losses = []
for step in range(5):
    with autograd.record():
        loss = loss_fn(lm(inputs), targets).mean()
    loss.backward()
    trainer.step(1)
    losses.append(float(loss))
print(f'training loss: {losses[0]:.3f} -> {losses[-1]:.3f}')
gp.check_ties(lm, TIES)
print('still tied after training')

# A refactor drops the tie; the checkpoint still loads, into two separate Parameters.
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, 'tiny_lm.params')
    lm.save_parameters(path)
    refactored = TinyLM(tie=False)
    refactored.initialize()
    refactored.load_parameters(path)
print('copies found:', gp.find_copies(refactored))
try:
    gp.check_ties(refactored, TIES)
except gp.TieError as error:
    print(error)
