"""gluonparams._text: the text every module writes the same way."""

import pytest

from gluonparams._text import (first_of, for_stream, shape_text, size_text, to_ascii,
                               tree_prefixes, tree_text)


@pytest.mark.parametrize('shape, text', [((8, 20), '(8, 20)'), ((8,), '(8,)'), ((), '()'),
                                         ((None, 3), '(?, 3)'), (None, '?')])
def test_shape_text(shape, text):
    assert shape_text(shape) == text


@pytest.mark.parametrize('n, text', [(0, '0 B'), (1023, '1023 B'), (1024, '1.00 KiB'),
                                     (1320, '1.29 KiB'), (5 << 20, '5.00 MiB'),
                                     (3 << 40, '3072.00 GiB')])
def test_size_text(n, text):
    assert size_text(n) == text


def test_first_of_cuts_after_the_limit_and_counts_the_rest():
    assert first_of([]) == ''
    assert first_of(['a']) == "'a'"
    assert first_of(range(20), 3, quote=False) == '0, 1, 2 and 17 more'
    assert first_of([f'n{i}' for i in range(12)]).count("'") == 24     # a dozen, all shown
    assert first_of([f'n{i}' for i in range(13)]).endswith("'n11' and 1 more")


def test_tree_prefixes_draw_branches_from_depths():
    class Row:
        def __init__(self, depth):
            self.depth = depth
    rows = [Row(d) for d in (0, 1, 2, 2, 1, 2)]
    assert tree_prefixes(rows) == ['', '├─ ', '│  ├─ ', '│  └─ ', '└─ ', '   └─ ']


def test_to_ascii_replaces_every_drawing_character():
    text = to_ascii('├─ └─ │ → × · …')
    assert text == '|- `- | > x - .' and text.isascii()


def test_for_stream_keeps_the_text_where_the_stream_can_encode_it():
    class Out:
        def __init__(self, encoding):
            self.encoding = encoding
    assert for_stream('2 × Dense', Out('utf-8')) == '2 × Dense'
    assert for_stream('2 × Dense', Out('ascii')) == '2 x Dense'
    assert for_stream('2 × Dense', Out('no-such-codec')) == '2 x Dense'
    assert for_stream('2 × Dense', object()) == '2 × Dense'   # no encoding: UTF-8


def test_tree_text_aligns_the_count_right_between_rules():
    class Row:
        def __init__(self, depth, name, count):
            self.depth, self.name, self.count = depth, name, count
    rows = [Row(0, 'net', '1,000'), Row(1, 'weight', '8')]
    text = tree_text(['Name', 'Params', 'Notes'], rows, lambda r: [r.name, r.count, ''],
                     ['Total params: 1,000'])
    assert text.splitlines() == ['Name       Params  Notes', '─' * 24,
                                 'net         1,000', '└─ weight       8', '─' * 24,
                                 'Total params: 1,000']
