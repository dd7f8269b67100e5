"""Deck cell 1, "A toy model", verbatim.

A notebook shows the value of the last line; a script prints it.
"""

from mxnet import init, np, npx
from mxnet.gluon import nn
npx.set_np()
net = nn.Sequential()
net.add(nn.Dense(8, activation='relu'))
net.add(nn.Dense(1))
net.initialize()  # Use the default initialization method

X = np.random.uniform(size=(2, 4))
print(net(X).shape)
