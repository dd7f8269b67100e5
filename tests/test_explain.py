"""The hints of a failed load, on names alone: each says what explains the names that
did not match, when something does."""

from gluonparams.checkpoint._explain import explain


def hints(keys, missing=(), unexpected=None, global_names=(), declined=(), matched_any=False,
          symbol='model-symbol.json'):
    return explain(keys=list(keys), missing=list(missing),
                   unexpected=list(keys if unexpected is None else unexpected),
                   global_names=list(global_names), declined=list(declined),
                   matched_any=matched_any, symbol=symbol)


def test_an_export_file_without_its_graph():
    found = hints(['arg:conv1_weight', 'aux:bn1_moving_mean'], missing=['0.weight'], symbol=None)
    assert found[0] == ("the file is an MXNet export or Module checkpoint: its names carry arg: "
                        "(graph inputs) and aux: (auxiliary states, such as BatchNorm's running "
                        "statistics); no -symbol.json was found beside it (pass symbol= to give "
                        "its graph order)")


def test_global_names_into_a_network_without_them():
    found = hints(['resnetv10_conv0_weight'], missing=['features.0.weight'])
    assert found[0] == ("1 of the file's names are MXNet 1.x global names "
                        "('resnetv10_conv0_weight', ...), which an MXNet 2.0 network does not "
                        "have: they can only be matched by position, shape by shape (see why "
                        "that did not work below), or by rename=")
    assert found[-1].startswith('nothing in the names relates the file to the network: pass '
                                'rename=')


def test_counters_of_the_same_network_and_prefixes_of_another():
    same = hints(['resnetv10_conv0_weight'], missing=['x'], global_names=['resnetv12_conv0_weight'])
    assert same[0] == ("prefix counters: the file's global names begin with resnetv10_, the "
                       "network's with resnetv12_: MXNet 1.x counts blocks per process, so the "
                       "same network built again gets other counters")
    other = hints(['dense0_weight'], missing=['x'], global_names=['resnetv12_conv0_weight'])
    assert other[0] == ("the file's global names begin with dense0_, the network's with "
                        "resnetv12_: the file holds another network, or one built another way")


def test_rnn_layouts_of_the_two_versions():
    fused_net = hints(['1._unfused.0.i2h_weight', '1._unfused.0.h2h_weight'],
                      missing=['1.rnn_param'], matched_any=True)
    assert fused_net[0].startswith("RNN layers: MXNet 2.0 keeps all the weights of an RNN layer "
                                   "in one fused vector ('1.rnn_param'); the file holds MXNet "
                                   "1.x's 2 per-gate arrays")
    per_gate_net = hints(['1.rnn_param'], missing=['1._unfused.0.i2h_weight'], matched_any=True)
    assert per_gate_net[0].startswith("RNN layers: the file holds MXNet 2.0's fused RNN weights "
                                      "('1.rnn_param'); the network (MXNet 1.x) has 1 per-gate")


def test_declined_rules_are_listed_four_at_most():
    found = hints(['a'], missing=['b'], declined=[f'rule {i}: why' for i in range(6)],
                  matched_any=True)
    assert found == [f'not matched by rule {i}: why' for i in range(4)] + [
        'and 2 more rules that did not apply']


def test_a_structural_prefix():
    found = hints(['backbone.0.weight'], missing=['0.weight'], matched_any=True)
    assert found == ["1 of the file's names are the network's names with 'backbone.' in front: "
                     "the file was saved from a network that holds this one as 'backbone'; load "
                     "it into that network"]
