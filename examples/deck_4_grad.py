"""Deck cell 4, "The gradient buffer", verbatim, after cell 1 as in the notebook.

Cell 1 comes first, verbatim; the last line of cell 4 is printed, as a
notebook would show it.
"""

# --- deck cell 1 ---
from mxnet import init, np, npx
from mxnet.gluon import nn
npx.set_np()
net = nn.Sequential()
net.add(nn.Dense(8, activation='relu'))
net.add(nn.Dense(1))
net.initialize()  # Use the default initialization method

X = np.random.uniform(size=(2, 4))
net(X).shape

# --- deck cell 4 ---
print(net[1].weight.grad())
