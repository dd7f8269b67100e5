"""Deck cell 6, "Parameter tying", verbatim, after cell 1 as in the notebook.

Cell 1 comes first, verbatim (it holds the imports); cell 6 prints by itself.
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

# --- deck cell 6 ---
net = nn.Sequential()
# We need to give the shared layer a name so that we can refer to its
# parameters
shared = nn.Dense(8, activation='relu')
shared_clone = nn.Dense(8, activation='relu')
shared_clone.share_parameters(shared.collect_params())
net.add(nn.Dense(8, activation='relu'),
        shared,
        shared_clone,
        nn.Dense(10))
net.initialize()

X = np.random.uniform(size=(2, 20))

net(X)
# Check whether the parameters are the same
print(net[1].weight.data()[0] == net[2].weight.data()[0])
net[1].weight.data()[0, 0] = 100
# Make sure that they are actually the same object rather than just having the
# same value
print(net[1].weight.data()[0] == net[2].weight.data()[0])
