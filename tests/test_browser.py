"""The HTML drawn by a real browser: headless Chromium (Debian's ``chromium`` package)
driven by playwright-python through ``executable_path`` (no ``playwright install``).

Two pages: a standalone page holding ``gp.summary``'s HTML (the deck's tied network, and
a network whose names are made of ``<``, ``&`` and quotes), and the example notebook as
run by test_notebook.py, exported by nbconvert (lab template, light and dark). Every
request that is not a local file is answered by the test with an empty body: nothing
reaches the network (the notebook template asks for require.js and MathJax on a CDN;
our HTML asks for nothing, which is checked). Screenshots are kept in each test's
``tmp_path`` (printed with ``pytest -s``), never in the repository.

Where Chromium or playwright is missing the tests skip, unless a CI run requires them:
``.ci/run`` installs Chromium with apt-get and sets ``GLUONPARAMS_REQUIRE_BROWSER=1``,
or, when it cannot install it, ``GLUONPARAMS_NO_BROWSER=<why>`` (the skip reason); a CI
run (``CI`` set, or that flag) that finds no browser without a reason fails.
"""

import os
import shutil

import pytest

import gluonparams as gp
from gluonparams import zoo

from nets import EVIL, evil_net

# Debian's real binary first: /usr/bin/chromium is a shell wrapper that adds flags
# from /etc/chromium.d
CANDIDATES = ('/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser')
# As root in a container, with no network: no sandbox, no GPU, nothing that calls home.
ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
        '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--disable-extensions']
INSTALL = ('install it with apt-get install chromium (Debian, Ubuntu) or set '
           'GLUONPARAMS_CHROMIUM to a Chromium binary')

PAGE = ('<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>'
        '<style>:root{{color-scheme:light dark}}</style></head><body>{body}</body></html>')


def find_chromium(env=os.environ):
    if env.get('GLUONPARAMS_CHROMIUM'):
        return env['GLUONPARAMS_CHROMIUM']
    for path in CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which('chromium') or shutil.which('chromium-browser')


def verdict(problem, env=os.environ):
    """What to do when the browser is missing (``problem`` says what is missing):
    ``('skip', reason)`` or ``('fail', message)``."""
    if env.get('GLUONPARAMS_NO_BROWSER'):
        return 'skip', f'{problem}: {env["GLUONPARAMS_NO_BROWSER"]}'
    if env.get('GLUONPARAMS_REQUIRE_BROWSER') or env.get('CI'):
        return 'fail', (f'{problem}, and this CI run requires the browser tests: .ci/run '
                        f'installs Chromium with apt-get and sets GLUONPARAMS_NO_BROWSER=<why> '
                        f'only when it cannot')
    return 'skip', problem


def unavailable(problem):
    action, message = verdict(problem)
    if action == 'fail':
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.parametrize('env, action', [
    ({}, 'skip'), ({'GLUONPARAMS_NO_BROWSER': 'apt-get failed'}, 'skip'),
    ({'CI': 'true'}, 'fail'), ({'GLUONPARAMS_REQUIRE_BROWSER': '1'}, 'fail'),
    ({'CI': 'true', 'GLUONPARAMS_NO_BROWSER': 'not root'}, 'skip')])
def test_a_missing_browser_skips_only_where_it_could_not_be_installed(env, action):
    found, message = verdict('Chromium not found: ...', env)
    assert found == action
    if 'GLUONPARAMS_NO_BROWSER' in env:
        assert message.endswith(env['GLUONPARAMS_NO_BROWSER'])
    assert find_chromium({'GLUONPARAMS_CHROMIUM': '/x/chrome'}) == '/x/chrome'


@pytest.fixture(scope='session')
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install '.[test]')")
    path = find_chromium()
    if path is None or not os.access(path, os.X_OK):
        unavailable(f'Chromium not found: {INSTALL}' if path is None else
                    f'GLUONPARAMS_CHROMIUM={path} is not executable')
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=ARGS, timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """``open_page(path, dark=False)``: a page that records console errors, uncaught
    exceptions and failed loads in ``page.errors`` and every non-local request it
    answered with nothing in ``page.blocked``."""
    contexts = []

    def open_(path, dark=False):
        context = browser.new_context(viewport={'width': 1100, 'height': 800},
                                      color_scheme='dark' if dark else 'light')
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.errors, page.blocked = [], []
        page.on('console', lambda m: m.type == 'error' and page.errors.append(m.text))
        page.on('pageerror', lambda e: page.errors.append(f'uncaught: {e}'))
        page.on('requestfailed', lambda r: page.errors.append(f'failed: {r.url}'))

        def local_only(route):
            url = route.request.url
            if url.startswith(('file:', 'data:')):
                route.continue_()
            else:
                page.blocked.append(url)
                route.fulfill(status=200, body='', content_type='application/javascript')
        context.route('**/*', local_only)
        page.goto(path.as_uri())
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope='module')
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp('pages')
    net, x = zoo.deck_tied_net()
    found = {}
    for name, summary in (('deck', gp.summary(net, x, file=None)),
                          ('evil', gp.summary(evil_net(), file=None))):
        found[name] = folder / f'{name}.html'
        found[name].write_text(PAGE.format(title=name, body=summary._repr_html_()),
                               encoding='utf-8')
    return found


@pytest.fixture(scope='module')
def notebook_pages(executed_notebook):
    """The run notebook exported by nbconvert, light and dark."""
    from nbconvert import HTMLExporter
    nb, folder, _ = executed_notebook
    found = {}
    for theme in ('light', 'dark'):
        body, _ = HTMLExporter(template_name='lab', theme=theme).from_notebook_node(nb)
        found[theme] = folder / f'notebook_{theme}.html'
        found[theme].write_text(body, encoding='utf-8')
    return found


def tree_rows(scope):
    return scope.locator('.r:not(.hd)')


def check_tie_link(page, scope):
    """Click '→ shared with 1.weight': the page moves to 1.weight's row, highlighted."""
    link = scope.locator('a', has_text='→ shared with 1.weight')
    target_id = link.get_attribute('href')[1:]
    target = page.locator(f'[id="{target_id}"]')
    assert target.count() == 1 and 'tied: also 2.weight' in target.inner_text()
    link.click()
    assert page.evaluate('location.hash') == '#' + target_id
    assert target.is_visible() and target.evaluate('e => e.matches(":target")')
    assert target.evaluate('e => getComputedStyle(e).backgroundColor') != 'rgba(0, 0, 0, 0)'
    top, bottom = target.evaluate('e => [e.getBoundingClientRect().top, '
                                  'e.getBoundingClientRect().bottom]')
    assert bottom > 0 and top < page.viewport_size['height']          # scrolled into view


def check_folding(scope, block, child_text):
    """Click a block's row: it closes (its rows hidden), click again: it opens."""
    summary = scope.locator('summary', has_text=block).first
    child = scope.locator('.r', has_text=child_text).first
    assert child.is_visible()
    summary.click()
    assert summary.evaluate('s => s.parentElement.open') is False
    assert not child.is_visible()
    summary.click()
    assert summary.evaluate('s => s.parentElement.open') is True and child.is_visible()


def test_the_summary_page_draws_the_tree_folds_and_follows_ties(open_page, pages, tmp_path):
    page = open_page(pages['deck'])
    rows = tree_rows(page.locator('.gpv'))
    assert rows.count() == 16
    names = [rows.nth(i).locator('.n').inner_text() for i in range(rows.count())]
    assert names[:4] == ['Sequential', '0: Dense', 'weight', 'bias'] and names[-1] == 'bias'
    assert all(rows.nth(i).is_visible() for i in range(rows.count()))
    assert rows.nth(2).inner_text().split() == ['weight', '(8,', '20)', 'float32', 'write', '160']
    hrefs = page.eval_on_selector_all('.gpv a[href^="#"]', 'as => as.map(a => a.hash.slice(1))')
    assert len(hrefs) == 8 and all(page.locator(f'[id="{h}"]').count() == 1 for h in hrefs)
    check_folding(page, '1: Dense', 'tied: also 2.weight')
    check_tie_link(page, page.locator('.gpv'))
    footer = page.locator('.gpv .f').inner_text()
    assert 'Total params: 330' in footer and 'Devices: cpu(0)' in footer
    page.screenshot(path=str(tmp_path / 'summary.png'), full_page=True)
    print('screenshot:', tmp_path / 'summary.png')
    assert page.errors == [] and page.blocked == []


def test_a_tie_link_opens_the_folded_block_it_points_into(open_page, pages):
    page = open_page(pages['deck'])
    page.locator('.gpv summary', has_text='1: Dense').click()        # fold the target's block
    link = page.locator('.gpv a', has_text='→ shared with 1.weight')
    target = page.locator(f'[id="{link.get_attribute("href")[1:]}"]')
    assert not target.is_visible()
    link.click()
    assert target.is_visible()
    assert page.errors == []


def test_names_made_of_markup_render_as_text(open_page, pages, tmp_path):
    page = open_page(pages['evil'])
    rows = tree_rows(page.locator('.gpv'))
    names = [rows.nth(i).locator('.n').inner_text() for i in range(rows.count())]
    assert names[0] == EVIL and EVIL in names[1:]
    assert page.locator('.gpv .r b').count() == 0          # no <b> element made from a name
    assert page.locator('.gpv b').all_inner_texts() == [page.locator('.gpv .f b').inner_text()]
    page.screenshot(path=str(tmp_path / 'escaping.png'), full_page=True)
    assert page.errors == [] and page.blocked == []


CONTRAST = r'''e => {
  const rgb = s => s.match(/[\d.]+/g).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  let bg = null;
  for (let n = e; n; n = n.parentElement) {
    const c = rgb(getComputedStyle(n).backgroundColor);
    if (c.length < 4 || c[3] > 0.5) { bg = c; break; } }
  bg = bg || [255, 255, 255];
  const [a, b] = [lum(rgb(getComputedStyle(e).color)), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05); }'''


@pytest.mark.parametrize('theme', ['light', 'dark'])
def test_the_exported_notebook_draws_every_output(open_page, notebook_pages, theme, tmp_path):
    page = open_page(notebook_pages[theme], dark=theme == 'dark')
    outputs = page.locator('.jp-OutputArea-output .gpv')
    # the summary (twice more: frozen, and printed on request), the checkpoint's tree,
    # the load and verify reports, the statistics (twice: clean, flagged)
    assert outputs.count() == 8
    ids = page.eval_on_selector_all('.gpv', 'es => es.map(e => e.id)')
    assert len(set(ids)) == len(ids)
    first = page.locator('.jp-Cell', has_text='gp.summary(net)').locator('.gpv').first
    assert tree_rows(first).count() == 16
    assert first.locator('.f').inner_text().startswith('Total params: 330')
    name = first.locator('.r:not(.hd) .n').first
    assert name.evaluate(CONTRAST) >= 4.5, 'the tree must be readable in this theme'
    check_tie_link(page, first)
    check_folding(first, '3: Dense', '(10, 8)')
    images = page.locator('.jp-OutputArea-output img')
    assert images.count() == 2 and all(images.nth(i).evaluate('i => i.naturalWidth > 100')
                                       for i in range(2))
    page.screenshot(path=str(tmp_path / f'notebook_{theme}.png'), full_page=True)
    print('screenshot:', tmp_path / f'notebook_{theme}.png')
    assert page.errors == [], page.errors
