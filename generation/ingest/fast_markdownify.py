"""markdownify's tree walk with less work per node, for the options convert.py uses.

markdownify spends most of its time deciding, node by node, things that depend only on a tag's
name (a regex per call for "is this a block/heading?"), on closures and set copies it rebuilds
for every tag, on a walk up to the root per tag ("inside a <pre>?") and, for list items, on a
bs4 search of the previous siblings. This subclass makes the same decisions from per-name
tables and one look per conversion, and calls the same convert_* functions in the same order,
so the Markdown is byte-identical: tests/test_speed_markdownify.py converts every fixture
page with both walks and compares. It follows markdownify 1.2's MarkdownConverter.process_tag,
process_text and convert_li; a markdownify that changes them fails that test.
"""

from __future__ import annotations

import functools
import re

_ALL_WHITESPACE_RE = re.compile(r"[\t \r\n]+")  # markdownify's re_all_whitespace
_HEADING_RE = re.compile(r"h(\d+)")  # markdownify's re_html_heading (a prefix match)
_BLOCKS = {
    "p",
    "blockquote",
    "article",
    "div",
    "section",
    "ol",
    "ul",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
}
_NOFORMAT = {"pre", "code", "kbd", "samp"}


@functools.cache
def _inside(name: str | None) -> bool:
    """markdownify's should_remove_whitespace_inside, by tag name (None for strings)."""
    return name is not None and name != "" and (_HEADING_RE.match(name) is not None or name in _BLOCKS)


@functools.cache
def _outside(name: str | None) -> bool:
    """markdownify's should_remove_whitespace_outside, by tag name (None for strings)."""
    return _inside(name) or name == "pre"


@functools.cache
def _child_context(name: str) -> tuple[str, ...]:
    """Pseudo-tags a tag adds to its children's parent_tags besides its own name."""
    extra = ("_inline",) if _HEADING_RE.match(name) is not None or name in ("td", "th") else ()
    return extra + (("_noformat",) if name in _NOFORMAT else ())


@functools.cache
def base_class():
    from bs4 import Comment, Doctype
    from markdownify import MarkdownConverter

    ignored = (Comment, Doctype)

    class FastMarkdownConverter(MarkdownConverter):
        """Options: wrap=True and no escaping (what convert.py sets); call convert_root."""

        _in_pre = False

        def __init__(self, **options):
            super().__init__(**options)
            if not self.options["wrap"]:
                raise ValueError("FastMarkdownConverter follows markdownify's wrap=True text handling only")

        def convert_root(self, root) -> str:
            # markdownify asks every tag whether it is inside a <pre> (a walk to the root); here
            # the root's ancestors are asked once and a flag is kept on the way down.
            parent = root.parent
            while parent is not None and parent.name != "pre":
                parent = parent.parent
            self._in_pre = parent is not None
            try:
                return self.process_tag(root, parent_tags=set())
            finally:
                self._in_pre = False

        def process_tag(self, node, parent_tags=None):
            if parent_tags is None:
                parent_tags = set()
            name = node.name
            remove_inside = _inside(name)
            tags = set(parent_tags)
            tags.add(name)
            tags.update(_child_context(name))
            enters_pre = name == "pre" and not self._in_pre
            if enters_pre:
                self._in_pre = True
            strings = []
            for el in node.contents:
                if el.name is not None:  # a Tag
                    out = self.process_tag(el, parent_tags=tags)
                elif isinstance(el, ignored):
                    continue
                else:
                    if not el.strip():  # whitespace at a block's edge is dropped
                        prev, nxt = el.previous_sibling, el.next_sibling
                        if remove_inside and (not prev or not nxt):
                            continue
                        if (prev is not None and _outside(prev.name)) or (nxt is not None and _outside(nxt.name)):
                            continue
                    out = self.process_text(el, parent_tags=tags)
                if out:
                    strings.append(out)
            if enters_pre:
                self._in_pre = False
            elif not self._in_pre and len(strings) > 1:  # one string joins to itself; in a <pre> newlines stay
                strings = _collapse_newlines(strings)
            text = "".join(strings)
            convert_fn = self.convert_fn_cache.get(name)
            if convert_fn is None and name not in self.convert_fn_cache:
                convert_fn = self.get_conv_fn_cached(name)
            if convert_fn is not None:
                text = convert_fn(node, text, parent_tags=parent_tags)
            return text

        def process_text(self, el, parent_tags=None):
            if parent_tags is None:
                parent_tags = set()
            text = str(el)
            if "pre" not in parent_tags:
                text = _ALL_WHITESPACE_RE.sub(" ", text)
            if "_noformat" not in parent_tags:
                text = self.escape(text, parent_tags)
            prev, nxt = el.previous_sibling, el.next_sibling
            parent = el.parent
            parent_inside = parent is not None and _inside(parent.name)
            if (prev is not None and _outside(prev.name)) or (parent_inside and not prev):
                text = text.lstrip(" \t\r\n")
            if (nxt is not None and _outside(nxt.name)) or (parent_inside and not nxt):
                text = text.rstrip()
            return text

        def convert_li(self, el, text, parent_tags):
            parent = el.parent
            if parent is not None and parent.name == "ol":
                text = (text or "").strip()
                if not text:
                    return "\n"
                start = parent.get("start")
                start = int(start) if start and str(start).isnumeric() else 1
                before = 0
                sibling = el.previous_sibling
                while sibling is not None:
                    before += sibling.name == "li"
                    sibling = sibling.previous_sibling
                bullet = f"{start + before}. "
                width = len(bullet)
                indent = " " * width
                text = _LINE_RE.sub(lambda m: indent + m.group(1) if m.group(1) else "", text)
                return bullet + text[width:] + "\n"
            return super().convert_li(el, text, parent_tags)  # bullets: a walk up, as cheap there

    return FastMarkdownConverter


_LINE_RE = re.compile(r"^(.*)", flags=re.MULTILINE)  # markdownify's re_line_with_content


def _collapse_newlines(strings: list[str]) -> list[str]:
    """markdownify's merge of newlines at child boundaries: the larger run, at most two."""
    out = [""]
    for s in strings:
        if s[0] != "\n" and s[-1] != "\n":
            leading = trailing = ""
            content = s
        else:
            body = s.strip("\n")
            if not body:
                leading, content, trailing = s, "", ""
            else:
                left = len(s) - len(s.lstrip("\n"))
                right = len(s.rstrip("\n"))
                leading, content, trailing = s[:left], s[left:right], s[right:]
        if out[-1] and leading:
            previous = out.pop()
            leading = "\n" * min(2, max(len(previous), len(leading)))
        out.append(leading)
        out.append(content)
        out.append(trailing)
    return out
