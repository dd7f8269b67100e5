"""Deck cell 3, "Tensor inside the parameter", verbatim, after cell 1 as in the notebook.

Cell 1 comes first, verbatim; the last line of cell 3 is printed, as a
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

# --- deck cell 3 ---
print((type(net[1].bias), net[1].bias.data()))
