"""The HTML a notebook shows (``_repr_html_``), read back as a tree of elements.

The browser tests (test_browser.py) check how Chromium draws it; these check what is in
it: every row with its cells, folding, tie links that resolve, escaping, scoped CSS
without fixed colours, frozen rows, footers; for the summary, a checkpoint, statistics,
load and verify reports, and the histogram figure's PNG.
"""

import re
import struct
import warnings

import mxnet as mx
import numpy as onp
import pytest
from mxnet import gluon
from mxnet.gluon import nn

import gluonparams as gp
from gluonparams import _compat, _html, zoo
from gluonparams._text import shape_text

import nets
from htmltree import parse
from nets import EVIL, evil_net


def rows_of(root):
    return [e for e in root.find(cls='r') if 'hd' not in e.classes]


def cells_of(row):
    return [c.text() for c in row.children if not isinstance(c, str)]


def output(root):
    (gpv,) = root.find('div', cls='gpv')
    return gpv


def style_rules(root):
    (style,) = root.find('style')
    return [r for r in style.text().split('}') if r.strip()]


def selectors(text):
    """A selector list split at its top-level commas (not those inside ``:is(...)``)."""
    parts, depth, current = [], 0, ''
    for ch in text:
        depth += (ch in '([') - (ch in ')]')
        if ch == ',' and not depth:
            parts.append(current)
            current = ''
        else:
            current += ch
    return parts + [current]


def visible(element):
    """Not inside a closed <details> (its own <summary> excepted)."""
    for node in [element] + list(element.ancestors()):
        parent = node.parent
        if parent is not None and parent.tag == 'details' and 'open' not in parent.attrs \
                and node.tag != 'summary':
            return False
    return True


def test_summary_html_has_a_row_per_tree_row_with_its_cells():
    s = gp.summary(nets.deck_tied(mx.cpu(0)), file=None)
    root = parse(s._repr_html_())
    rows = rows_of(root)
    assert len(rows) == len(s.rows) == 16
    (header,) = root.find(cls='hd')
    assert cells_of(header) == ['Name', 'Shape', 'Dtype', 'Grad', 'Params', 'Notes']
    for element, row in zip(rows, s.rows):
        cells = cells_of(element)
        if row.kind == 'param':       # an empty cell is not written
            last = f'→ shared with {row.shared_with}' if row.shared_with else f'{row.size:,}'
            assert cells[:5] == [row.name, shape_text(row.shape), 'float32', 'write', last]
            assert element.tag == 'div' and 'id' in element.attrs
        else:
            assert cells == [f'{row.name}: {row.type}' if row.path else row.type,
                             f'{row.params:,}' if row.uses else '--']
            assert element.tag == ('div' if row.type == 'Activation' else 'summary')
    assert cells_of(rows[2]) == ['weight', '(8, 20)', 'float32', 'write', '160']


def test_blocks_fold_and_open_down_to_about_sixty_visible_rows():
    s = gp.summary(nets.resnet18(), file=None)
    root = parse(s._repr_html_())
    details = root.find('details')
    assert all(d.children[0].tag == 'summary' for d in details)
    assert 'open' in details[0].attrs                       # the root is open
    closed = [d for d in details if 'open' not in d.attrs]
    assert closed, 'a 100-row network starts partly folded'
    shown = [r for r in rows_of(root) if visible(r)]
    assert 10 < len(shown) <= _html.OPEN_ROWS < len(s.rows)
    deck = parse(gp.summary(nets.deck_tied(), file=None)._repr_html_())
    assert all('open' in d.attrs for d in deck.find('details'))     # 16 rows: all open


@pytest.mark.parametrize('depths, budget, expected', [
    ([0, 1, 1, 2, 2, 2, 3], 60, 3), ([0, 1, 1, 2, 2, 2, 3], 4, 1), ([0, 1, 1, 2, 2, 2, 3], 6, 2),
    ([0] + [1] * 100, 60, 1), ([0], 60, 1)])
def test_open_depth_keeps_the_visible_rows_within_budget(depths, budget, expected):
    rows = [_html.TreeRow(d, 'x') for d in depths]
    assert _html.open_depth(rows, budget) == expected


def test_tie_marks_link_to_the_shared_row_and_back():
    s = gp.summary(nets.deck_tied(), file=None)
    root = parse(s._repr_html_())
    ids = {e.attrs['id']: e for e in root.iter() if 'id' in e.attrs}
    by_name = {}
    for element, row in zip(rows_of(root), s.rows):
        by_name[row.path] = element
    links = root.find('a')
    assert len(links) == 8        # 2 tied uses, 2 first uses, 4 in the footer
    for link in links:
        target = link.attrs['href']
        assert target.startswith('#') and target[1:] in ids, target
    (to_first,) = by_name['2.weight'].find('a')
    assert to_first.text() == '→ shared with 1.weight'
    assert ids[to_first.attrs['href'][1:]] is by_name['1.weight']
    (back,) = by_name['1.weight'].find('a')
    assert by_name['1.weight'].text().endswith('tied: also 2.weight')
    assert ids[back.attrs['href'][1:]] is by_name['2.weight']
    footer = root.find('div', cls='f')[0]
    assert 'Shared: 2 tied parameters used 4 times, each counted once: ' \
           '1.weight = 2.weight; 1.bias = 2.bias' in footer.text()


def test_every_rendering_has_its_own_ids():
    s = gp.summary(nets.deck_tied(), file=None)
    first, second = parse(s._repr_html_()), parse(s._repr_html_())
    ids = [{e.attrs['id'] for e in r.iter() if 'id' in e.attrs} for r in (first, second)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    uid = output(first).attrs['id']
    assert re.fullmatch(r'gp[0-9a-f]{8}', uid)
    assert all(i == uid or i.startswith(uid + '-') for i in ids[0])


@pytest.mark.parametrize('render', [
    lambda tmp: gp.summary(nets.deck_tied(), file=None)._repr_html_(),
    lambda tmp: gp.stats(nets.deck_tied())._repr_html_(),
    lambda tmp: (gp.save(nets.deck_tied(), tmp / 'm.safetensors'),
                 gp.inspect(tmp / 'm.safetensors')._repr_html_())[1],
    lambda tmp: (gp.save(nets.deck_tied(), tmp / 'm.safetensors'),
                 gp.load(nets.deck_tied(), tmp / 'm.safetensors')._repr_html_())[1],
    lambda tmp: (gp.save(nets.deck_tied(), tmp / 'm.safetensors'),
                 gp.verify(tmp / 'm.safetensors')._repr_html_())[1],
], ids=['summary', 'stats', 'inspect', 'load', 'verify'])
def test_css_is_scoped_colours_inherit_and_nothing_is_fetched_or_run(render, tmp_path):
    markup = render(tmp_path)
    root = parse(markup)
    uid = output(root).attrs['id']
    rules = style_rules(root)
    assert rules
    for rule in rules:
        head, _, body = rule.partition('{')
        assert all(s.strip().startswith('#' + uid) for s in selectors(head)), rule
        for prop, value in re.findall(r'(?:^|;)\s*(color|background)\s*:\s*([^;]+)', body):
            assert value.startswith(('inherit', 'transparent', 'var(', 'rgba(', 'color-mix(')), \
                rule
    lowered = markup.lower()
    for banned in ('<script', 'javascript:', 'http:', 'https:', 'url(', '@import', '<iframe',
                   '<svg', 'src='):
        assert banned not in lowered, banned
    assert not [a for e in root.iter() for a in e.attrs if a.startswith('on')]
    assert not re.search(r'(?:^|[;{])(?:color|background):\s*(?:#|white|black)', lowered)


def test_names_are_escaped_everywhere():
    s = gp.summary(evil_net(), file=None)
    markup = s._repr_html_()
    root = parse(markup)
    assert not root.find('b', cls=None)[1:], 'only the footer\'s own <b>'
    assert all(b.text().startswith('Total params') for b in root.find('b'))
    labels = [cells_of(r)[0] for r in rows_of(root)]
    assert labels[0] == EVIL and EVIL in labels
    assert '<b>&' not in markup
    info = gp.stats(evil_net(), EVIL)._repr_html_()
    assert [td.text() for td in parse(info).find('td')][0] == EVIL and '<b>&' not in info


def test_frozen_rows_are_marked_in_class_and_in_words():
    net = nets.deck_tied()
    gp.freeze(net, r'^0\.')
    root = parse(gp.summary(net, file=None)._repr_html_())
    frozen = {cells_of(r)[0] for r in rows_of(root) if 'z' in r.classes}
    assert len([r for r in rows_of(root) if 'z' in r.classes]) == 2 and frozen == {'weight',
                                                                                   'bias'}
    for row in (r for r in rows_of(root) if 'z' in r.classes):
        (grad,) = row.find(cls='g')
        assert grad.text() == 'null' and grad.attrs['title'].startswith('frozen')
    assert 'Non-trainable params: 168' in root.find('div', cls='f')[0].text()


def test_footer_lists_totals_unknown_counts_ties_and_devices():
    s = gp.summary(nets.deck_tied(run=False), file=None)
    root = parse(s._repr_html_())
    footer = root.find('div', cls='f')[0]
    text = footer.text()
    assert footer.find('b')[0].text() == 'Total params: 26 (104 B)'
    (unknown,) = footer.find('span', cls='w')
    assert unknown.text().startswith('Unknown: 3 parameters have shapes not known yet')
    assert 'Shared: 2 tied parameters' in text and text.endswith('Devices: cpu(0)')
    assert cells_of(rows_of(root)[2])[:2] == ['weight', '(8, ?)']


def test_stats_html_marks_flagged_rows():
    net = nets.deck_tied()
    net[3].weight.set_data(net[3].weight.data() * 0)
    stats = gp.stats(net)
    root = parse(stats._repr_html_())
    header = [th.text() for th in root.find('th')]
    assert header[:3] == ['Name', 'Shape', 'Mean'] and header[-1] == 'Flags'
    rows = root.find('tr')[1:]
    assert [r.find('td')[0].text() for r in rows] == [r.name for r in stats.rows]
    flagged = [r for r in rows if 'x' in r.classes]
    assert [r.find('td')[0].text() for r in flagged] == ['3.weight']
    flags = flagged[0].find('td')[-1]
    assert flags.text() == 'all zero' and 'e' in flags.classes
    assert flags.attrs['title'] == ' '.join(stats['3.weight'].explain())
    assert '3.weight: every value is 0' in root.find('div', cls='f')[0].text()
    clean = parse(gp.stats(nets.deck_tied())._repr_html_())
    assert not [r for r in clean.find('tr') if 'x' in r.classes]
    assert 'No flags: 6 parameter(s) look sane.' in clean.text()


def test_checkpoint_html_is_the_files_tree_with_tie_links(tmp_path):
    gp.save(nets.deck_tied(), tmp_path / 'deck.safetensors', metadata={'note': EVIL})
    info = gp.inspect(tmp_path / 'deck.safetensors')
    markup = info._repr_html_()
    root = parse(markup)
    labels = [cells_of(r)[0] for r in rows_of(root)]
    assert labels == ['deck.safetensors', '0', 'weight', 'bias', '1', 'weight', 'bias', '2',
                      'weight', 'bias', '3', 'weight', 'bias']
    ids = {e.attrs['id']: e for e in root.iter() if 'id' in e.attrs}
    alias = rows_of(root)[8]
    (link,) = alias.find('a')
    assert link.text() == '→ shared with 1.weight'
    assert cells_of(ids[link.attrs['href'][1:]])[0] == 'weight'
    assert ids[link.attrs['href'][1:]] is rows_of(root)[5]
    text = root.find('div', cls='f')[0].text()
    assert 'Total params: 330' in text and 'Format: safetensors' in text
    assert f'note={EVIL}' in text and '<b>&' not in markup


def test_load_and_verify_reports(tmp_path):
    path = tmp_path / 'deck.safetensors'
    gp.save(nets.deck_tied(), path)
    clean = parse(gp.load(nets.deck_tied(), path)._repr_html_())
    assert clean.find('span', cls='ok') and not clean.find('span', cls='w')
    (loaded,) = clean.find('details')
    assert 'open' not in loaded.attrs and loaded.find('summary')[0].text() == 'loaded: 8'
    assert 'missing: 0' in clean.text() and 'mismatched: 0' in clean.text()

    other = nn.Sequential()
    other.add(nn.Dense(8, in_units=20), nn.Dense(3, in_units=8))
    zoo.initialize(other)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        report = gp.load(other, path, strict=False)
    partial = parse(report._repr_html_())
    assert partial.find('span', cls='w') and not partial.find('span', cls='ok')
    parts = {d.find('summary')[0].text(): d for d in partial.find('details')}
    assert 'open' in parts['unexpected: 4'].attrs and 'w' in parts['unexpected: 4'].find(
        'summary')[0].classes
    assert 'open' in parts['mismatched: 2'].attrs
    assert '1.weight (network (3, 8) float32, file (8, 8) float32)' in parts[
        'mismatched: 2'].text()

    verified = parse(gp.verify(path)._repr_html_())
    assert verified.find('span', cls='ok')
    assert output(verified).find('div')[0].text() == '✓ ' + str(gp.verify(path))
    assert verified.find('summary')[0].text() == 'checked: 6'


def test_plot_histograms_returns_a_figure_that_shows_itself_as_png():
    from matplotlib.figure import Figure
    figure = gp.plot_histograms(nets.deck_toy(), cols=4, dpi=50)
    assert type(figure) is Figure
    png = figure._repr_png_()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'
    assert struct.unpack('>II', png[16:24]) == (4 * 2.5 * 50, 2.0 * 50)


def test_summary_html_lists_devices_output_shapes_and_global_names_when_text_does():
    net, x = zoo.deck_tied_net()
    s = gp.summary(net, x, file=None)
    (header,) = parse(s._repr_html_()).find(cls='hd')
    assert cells_of(header) == ['Name', 'Output', 'Shape', 'Dtype', 'Grad', 'Params', 'Notes']
    assert cells_of(header) == str(s).splitlines()[0].split()
    mixed = nn.Sequential()
    mixed.add(nn.Dense(2, in_units=2), nn.Dense(2, in_units=2))
    mixed[0].initialize(**_compat.device_kwargs(mx.cpu(0)))
    mixed[1].initialize(**_compat.device_kwargs(mx.cpu(1)))
    root = parse(gp.summary(mixed, file=None)._repr_html_())
    assert 'Devices' in cells_of(root.find(cls='hd')[0])
    assert [cells_of(r)[-1] for r in rows_of(root) if cells_of(r)[0] == 'weight'] == [
        'cpu(0)', 'cpu(1)']


def test_reports_of_an_optimizer_state_and_of_a_file_without_checksums(tmp_path):
    net = nets.deck_tied()
    trainer = gluon.Trainer(net.collect_params(), 'adam')
    gp.save(net, tmp_path / 'step.safetensors', trainer=trainer)
    fresh = gluon.Trainer(net.collect_params(), 'adam')
    root = parse(gp.load(net, tmp_path / 'step.safetensors', trainer=fresh)._repr_html_())
    parts = {d.find('summary')[0].text(): d for d in root.find('details')}
    assert 'optimizer state restored: 6' in parts and root.find('span', cls='ok')
    assert 'optimizer Adam: restored 6' in output(root).find('div')[0].text()

    from safetensors.numpy import save_file      # another tool's file: no checksums
    save_file({'0.weight': onp.ones((2, 2), 'float32')}, str(tmp_path / 'other.safetensors'))
    report = gp.verify(tmp_path / 'other.safetensors')
    root = parse(report._repr_html_())
    assert root.find('span', cls='w') and not root.find('span', cls='ok')
    (unchecked,) = root.find('details')
    assert 'open' in unchecked.attrs
    assert unchecked.find('summary')[0].text() == f'no checksum: {len(report.unchecked)}'
