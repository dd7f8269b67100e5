"""Networks the command line can build: the deck's networks and MXNet's model zoo.

Each builder returns ``(net, example_input)``; the network is initialized and the
input has the shape the network expects, so one forward pass settles every
deferred shape.
"""

import difflib
import warnings
from typing import Any, List, Optional, Tuple

from mxnet import gluon
from mxnet.gluon import nn

from . import _compat
from .errors import OptionError
from .ties import share

__all__ = ['deck_toy_net', 'deck_tied_net', 'model_names', 'build', 'DEFAULT']

DEFAULT = 'deck-tied'


def deck_toy_net(device: Any = None) -> Tuple[gluon.Block, Any]:
    """The deck's toy model: ``Dense(8, relu)`` then ``Dense(1)``, input ``(2, 4)``."""
    net = nn.Sequential()
    net.add(nn.Dense(8, activation='relu'))
    net.add(nn.Dense(1))
    net.initialize(**_compat.device_kwargs(device))
    return net, _compat.uniform((2, 4), _first(device))


def deck_tied_net(device: Any = None) -> Tuple[gluon.Block, Any]:
    """The deck's tying cell: layers 1 and 2 share one weight and one bias; input ``(2, 20)``.

    330 unique parameters once the input has been seen. The deck ties with 2.0's
    ``share_parameters``; :func:`gluonparams.share` makes the same tie on any MXNet.
    """
    net = nn.Sequential()
    shared = nn.Dense(8, activation='relu')
    shared_clone = share(nn.Dense(8, activation='relu'), shared)
    net.add(nn.Dense(8, activation='relu'), shared, shared_clone, nn.Dense(10))
    initialize(net, device)
    return net, _compat.uniform((2, 20), _first(device))


def initialize(net: gluon.Block, device: Any = None, **kwargs: Any) -> None:
    """``net.initialize`` on ``device``, without the warning Gluon gives for each tied
    parameter it reaches a second time."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*already initialized')
        net.initialize(**kwargs, **_compat.device_kwargs(device))


def _first(device: Any) -> Any:
    """The device an example input goes to: the first of a list."""
    return device[0] if isinstance(device, (list, tuple)) else device


_DECK = {'deck-toy': deck_toy_net, 'deck-tied': deck_tied_net}


def model_names() -> List[str]:
    """Every name :func:`build` accepts: the deck's networks, then the model zoo's."""
    return sorted(_DECK) + _compat.model_zoo_names()


def build(name: str, device: Any = None, input_shape: Optional[Tuple[int, ...]] = None,
          init: Any = None) -> Tuple[gluon.Block, Any]:
    """Build a network by name, without pretrained weights.

    Args:
        name: ``'deck-tied'``, ``'deck-toy'`` or a model-zoo name (``'resnet18_v1'``).
        device: where to initialize it (default: the current device).
        input_shape: the example input's shape; by default ``(1, 3, 224, 224)``
            (``299`` for Inception).
        init: a model-zoo network's initializer (default: its own); the deck's
            networks keep the deck's.

    Raises:
        OptionError: an unknown name; the message lists close matches and all names.
    """
    if name in _DECK:
        return _DECK[name](device)
    example = _compat.zeros(input_shape or _input_shape(name), _first(device))
    return model_zoo_net(name, device, init), example


def _input_shape(name: str) -> Tuple[int, ...]:
    side = 299 if 'inception' in name.lower() else 224
    return (1, 3, side, side)


def model_zoo_net(name: str, device: Any = None, init: Any = None) -> gluon.Block:
    """A model-zoo network by name, initialized (deferred shapes) without weights.

    Raises:
        OptionError: an unknown name; the message lists close matches and all names.
    """
    names = _compat.model_zoo_names()
    if name.lower() not in names:
        close = difflib.get_close_matches(name.lower(), names + sorted(_DECK), n=3)
        hint = f' Did you mean {", ".join(close)}?' if close else ''
        raise OptionError(f'unknown model {name!r}.{hint} Known models: '
                          f'{", ".join(model_names())}')
    net = _compat.model_zoo_get(name.lower())
    initialize(net, device, **({'init': init} if init is not None else {}))
    return net
