"""A small DOM for the HTML the library writes (stdlib ``html.parser``), to test its
structure without a browser: elements, attributes, text, ``find``/``text``.

``<li>`` end tags are implied by the next ``<li>`` or the list's end, as in a browser;
``<br>`` is void. Anything else must be closed in order, or parsing fails: the markup
a notebook receives is checked to be well nested.
"""

from html.parser import HTMLParser

VOID = {'br', 'meta', 'img', 'hr', 'input', 'link'}


class Element:
    def __init__(self, tag, attrs, parent=None):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []

    @property
    def classes(self):
        return set((self.attrs.get('class') or '').split())

    def text(self):
        return ''.join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for c in self.children:
            if isinstance(c, Element):
                yield c
                yield from c.iter()

    def find(self, tag=None, cls=None, **attrs):
        """Every element below this one with that tag, class and attributes."""
        return [e for e in self.iter()
                if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k) == v for k, v in attrs.items())]

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def __repr__(self):
        return f'<{self.tag} {self.attrs}>'


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element('#root', {})
        self.node = self.root

    def handle_starttag(self, tag, attrs):
        if tag == 'li' and self.node.tag == 'li':
            self.node = self.node.parent
        element = Element(tag, attrs, self.node)
        self.node.children.append(element)
        if tag not in VOID:
            self.node = element

    def handle_startendtag(self, tag, attrs):
        self.node.children.append(Element(tag, attrs, self.node))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if tag == 'ul' and self.node.tag == 'li':
            self.node = self.node.parent
        assert self.node.tag == tag, f'</{tag}> closes <{self.node.tag}>'
        self.node = self.node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def parse(markup: str) -> Element:
    builder = _Builder()
    builder.feed(markup)
    builder.close()
    assert builder.node is builder.root, f'<{builder.node.tag}> is never closed'
    return builder.root
