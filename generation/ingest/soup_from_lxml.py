"""A beautifulsoup4 tree made straight from an lxml element, for markdownify to convert.

Serialising the content and letting bs4 parse it again cost as much as markdownify's whole
conversion: every tag and string went through bs4's parser callbacks (tag stack, string
buffering, linkage fix-ups). The page is already parsed, so its nodes are copied here into
the same bs4 objects that `BeautifulSoup(lxml.html.tostring(el), "lxml")` would make: the same
Tag and string classes, attributes (class-like ones split into lists), whitespace-only
strings collapsed as bs4 collapses them, and the same document-order links. The field values
of each new Tag come from one Tag per name made by bs4's own constructor, so they are what the
installed bs4 would set. tests/test_speed_soup.py checks the two trees node by node.
"""

from __future__ import annotations

_ASCII_SPACES = "\x20\x0a\x09\x0c\x0d"  # what bs4 collapses (BeautifulSoup.ASCII_SPACES)
_LINKS = ("parent", "previous_element", "next_element", "previous_sibling", "next_sibling")


class _Kit:
    """What building needs from bs4, made once."""

    def __init__(self):
        from bs4 import BeautifulSoup, Comment, NavigableString, Tag
        from bs4.element import ProcessingInstruction

        self.tag_class = Tag
        self.soup = BeautifulSoup("<p class='x'>x</p>", "lxml")
        self.builder = self.soup.builder
        self.namespaces = self.soup.p._namespaces  # the builder's default map, shared as bs4 shares it
        self.string_fields = {k: None for k in self.soup.p.string.__dict__}
        self.string_fields["hidden"] = False
        self.containers = dict(self.builder.string_containers)
        self.preserve = set(self.builder.preserve_whitespace_tags)
        self.navigable, self.comment, self.pi = NavigableString, Comment, ProcessingInstruction
        self.templates: dict[str, dict] = {}

    def template(self, name: str) -> dict:
        fields = self.templates.get(name)
        if fields is None:
            tag = self.tag_class(self.soup, self.builder, name, None, None, None, namespaces=self.namespaces)
            fields = self.templates[name] = dict(tag.__dict__)
            fields.update(dict.fromkeys(_LINKS))
        return fields


_KIT: list[_Kit] = []


def soup_for(el):
    """(document, Tag of `el`): lxml element `el` (its tail left out) as bs4 would have it from a
    parse of its serialisation, under a document and, unless it is one of them, <html><body>."""
    from bs4 import BeautifulSoup
    from lxml import etree

    if not _KIT:
        _KIT.append(_Kit())
    kit = _KIT[0]
    document = BeautifulSoup("", "lxml")
    state = [None]  # as in bs4's own parse, the document is not linked to its first tag
    parent = document
    for name in {"html": (), "body": ("html",)}.get(el.tag, ("html", "body")):
        parent = _element(kit, etree.Element(name), parent, state, None, False)
    return document, _element(kit, el, parent, state, None, False)


def _link(node, parent, state) -> None:
    last = state[0]
    node.previous_element = last
    if last is not None:
        last.next_element = node
    state[0] = node
    if parent is not None:
        siblings = parent.contents
        if siblings:
            node.previous_sibling = siblings[-1]
            siblings[-1].next_sibling = node
        siblings.append(node)


def _string(kit, text: str, cls, parent, state, preserve: bool):
    if "\r" in text:  # a &#13; in the page: serialised bare, a parser reads it as a line break
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # bs4 turns a whitespace-only string (even an empty comment) into one space or newline.
    if not preserve and not text.strip(_ASCII_SPACES):
        text = "\n" if "\n" in text else " "
    node = str.__new__(cls, text)
    node.__dict__.update(kit.string_fields)
    node.parent = parent
    _link(node, parent, state)


def _element(kit, el, parent, state, container, preserve: bool):
    name = el.tag
    fields = kit.templates.get(name) or kit.template(name)
    fields = fields.copy()
    attrib = el.attrib
    if attrib:
        attrs = kit.builder.attribute_dict_class()
        for key, value in attrib.items():
            attrs[key] = value
        fields["attrs"] = kit.builder._replace_cdata_list_attribute_values(name, attrs)
    else:
        fields["attrs"] = kit.builder.attribute_dict_class()
    fields["contents"] = []
    tag = kit.tag_class.__new__(kit.tag_class)
    tag.__dict__ = fields
    if name == "meta":  # bs4 wraps a meta charset/content-type so output can re-encode it
        kit.builder.set_up_substitutions(tag)
    tag.parent = parent
    _link(tag, parent, state)
    # Strings take the class of the innermost string-container tag (script, style, template...)
    # and keep their whitespace inside pre/textarea, as bs4's parser does.
    container = kit.containers.get(name, container)
    preserve = preserve or name in kit.preserve
    text_cls = container or kit.navigable
    if el.text:  # lxml's None or "" is no string at all
        _string(kit, el.text, text_cls, tag, state, preserve)
    for child in el:
        ctag = child.tag
        if isinstance(ctag, str):
            _element(kit, child, tag, state, container, preserve)
        else:
            _special(kit, child, tag, state, preserve)
        if child.tail:
            _string(kit, child.tail, text_cls, tag, state, preserve)
    return tag


def _special(kit, node, parent, state, preserve: bool) -> None:
    """Comments and processing instructions, as bs4's lxml builder keeps them."""
    from lxml import etree

    if node.tag is etree.Comment:
        text, cls = node.text or "", kit.comment
    elif node.tag is etree.ProcessingInstruction:
        text, cls = f"{node.target} {node.text or ''}", kit.pi
    else:  # an entity reference: its text, as a parse of its serialisation reads it
        text, cls = node.text or "", kit.navigable
    _string(kit, text, cls, parent, state, preserve)
