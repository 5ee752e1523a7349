"""Page-quality detectors: a page that is really a JS shell, a bot check, a login wall, a
"not found" served with 200, or nearly empty must be recorded as failed, never as content.

The detectors are heuristics, so each one needs a positive signal plus little visible text:
a real docs page *about* captchas or 404 errors has plenty of text and is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..main_content import sole_article

# A page with less visible text than this is "tiny" for the JS-shell and interstitial checks.
TINY_TEXT = 120
# Interstitials (captcha, login) are short; longer pages mentioning the words are docs.
SHORT_TEXT = 1500
# A "not found" page says little beyond its heading; a docs page *about* 404s says much more.
NOT_FOUND_TEXT = 400

ROOT_IDS = {"root", "app", "__next", "__nuxt", "svelte", "main", "application", "react-root", "___gatsby"}
CAPTCHA_CLASS = re.compile(r"g-recaptcha|h-captcha|cf-turnstile|cf-challenge|captcha", re.I)
CAPTCHA_SRC = re.compile(r"recaptcha|hcaptcha|turnstile|challenges\.cloudflare\.com|captcha", re.I)
CAPTCHA_TEXT = re.compile(
    r"verify (that )?you are (a )?human|are you a robot|not a robot|checking your browser|"
    r"unusual traffic|complete the security check|attention required|press (and|&) hold|captcha",
    re.I,
)
LOGIN_TEXT = re.compile(r"\b(log ?in|sign ?in|signin|login)\b", re.I)
LOGIN_PATH = re.compile(
    r"/(login|log-in|signin|sign-in|sign_in|auth/login|oauth/authorize|sso|users/sign_in|account/login|session/new)"
    r"(/|\?|$|\.)",
    re.I,
)
NOT_FOUND = re.compile(
    r"\b404\b|not found|page (does not|doesn't|could not|couldn't) (exist|be found)|"
    r"no longer (exists|available)|nothing (was )?found|page (is )?missing",
    re.I,
)


# File signatures of binary formats that servers mislabel as text/html most often.
MAGIC = (
    (b"\x89PNG", "PNG image"),
    (b"GIF8", "GIF image"),
    (b"\xff\xd8\xff", "JPEG image"),
    (b"%PDF", "PDF document"),
    (b"PK\x03\x04", "ZIP archive"),
    (b"\x1f\x8b", "gzip data"),
    (b"RIFF", "RIFF media"),
    (b"\x00asm", "WebAssembly"),
    (b"\x7fELF", "ELF executable"),
)
# Bytes that never occur in text (C0 controls other than tab, newline, form feed, return).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


def binary_signature(body: bytes) -> str | None:
    """What a body that is not text is (for a Dropped detail), or None for text."""
    head = body[:4096]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None  # UTF-16 text (its NUL bytes are half of each character)
    for magic, name in MAGIC:
        if head.startswith(magic):
            return name
    if not head:
        return None
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if b"\x00" in head or controls > len(head) // 100:
        return f"{controls} control bytes in the first {len(head)}"
    return None


REFRESH_URL = re.compile(r"^\s*\d*(?:\.\d+)?\s*[;,]\s*url\s*=\s*(\S.*)$", re.I)
# A page with a meta refresh and less visible text than this is a redirect stub.
STUB_TEXT = 400


@dataclass
class Analysis:
    title: str = ""
    h1: str = ""
    text: str = ""  # visible text, whitespace collapsed
    main_text: str = ""  # visible text of main/article/[role=main] (nav and footer excluded) if present
    links: list[str] = field(default_factory=list)  # raw hrefs, unresolved
    base_href: str | None = None
    scripts: int = 0
    empty_root: bool = False
    password_field: bool = False
    captcha_marker: str = ""
    noindex: bool = False  # <meta name="robots" content="noindex">
    canonical: str | None = None  # <link rel="canonical" href>, raw
    refresh: str | None = None  # target of <meta http-equiv="refresh" content="0; url=...">, raw


def _collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def analyze_html(body: bytes) -> Analysis:
    """One parse (lxml: several times faster than BeautifulSoup, which matters at crawl rates)."""
    from lxml import etree
    from lxml import html as lhtml

    a = Analysis()
    try:
        # huge_tree: without it libxml2 silently stops at 256 nested elements (the text is lost).
        doc = lhtml.document_fromstring(body, parser=lhtml.HTMLParser(huge_tree=True))
    except (etree.ParserError, ValueError):
        return a  # empty or unparsable: no text, classified as empty
    title = doc.find(".//title")
    if title is not None:
        a.title = _collapse(title.text_content())
    h1 = doc.find(".//h1")
    if h1 is not None:
        a.h1 = _collapse(h1.text_content())
    for meta in doc.iter("meta"):
        name = (meta.get("name") or "").lower()
        if name in ("robots", "googlebot") and "noindex" in (meta.get("content") or "").lower():
            a.noindex = True
        if (meta.get("http-equiv") or "").lower() == "refresh":
            m = REFRESH_URL.search(meta.get("content") or "")
            a.refresh = m.group(1).strip().strip("'\"") if m else a.refresh
    for link in doc.iter("link"):
        if "canonical" in (link.get("rel") or "").lower().split() and link.get("href"):
            a.canonical = link.get("href").strip()
            break
    base = doc.find(".//base[@href]")
    a.base_href = base.get("href") if base is not None else None
    a.links = [el.get("href") for el in doc.iter("a") if el.get("href") is not None]
    a.scripts = sum(1 for _ in doc.iter("script"))
    a.password_field = any((el.get("type") or "").lower() == "password" for el in doc.iter("input"))
    for el in doc.xpath("//*[@class]"):
        if CAPTCHA_CLASS.search(el.get("class")):
            a.captcha_marker = f"element class '{el.get('class')}'"
            break
    if not a.captcha_marker:
        for el in doc.xpath("//script[@src] | //iframe[@src]"):
            if CAPTCHA_SRC.search(el.get("src")):
                a.captcha_marker = f"{el.tag} src {el.get('src')}"
                break
    for el in doc.iter("div", "main", "section", "app-root"):
        is_root = (el.get("id") or "").lower() in ROOT_IDS or el.tag == "app-root"
        if is_root and not el.text_content().strip() and not el.xpath(".//img | .//svg | .//video | .//canvas"):
            a.empty_root = True
            break
    for el in list(doc.iter("script", "style", "noscript", "template", "head", "title", etree.Comment)):
        if el.getparent() is not None:
            el.drop_tree()  # keeps the element's tail text, which is visible
    a.text = _collapse(" ".join(doc.itertext()))
    # Site chrome (nav, footer) alone can exceed min_text_chars; judge emptiness by the main part.
    main = doc.find(".//main")
    if main is None:
        main = sole_article(doc)  # several <article>s are cards (a VitePress home page), not the content
    if main is None:
        found = doc.xpath("//*[@role='main']")
        main = found[0] if found else None
    a.main_text = _collapse(" ".join(main.itertext())) if main is not None else a.text
    return a


MD_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
MD_REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
MD_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def markdown_links(text: str) -> list[str]:
    """Targets of inline, reference-style and auto links, ignoring images and code blocks."""
    text = MD_FENCE.sub("", text)
    return MD_LINK.findall(text) + MD_AUTOLINK.findall(text) + MD_REFDEF.findall(text)


def analyze_markdown(body: bytes) -> Analysis:
    text = body.decode("utf-8", "replace")
    a = Analysis(links=markdown_links(text))
    for line in text.splitlines():
        if line.startswith("# "):
            a.h1 = a.title = line[2:].strip().strip("#").strip()
            break
    # Visible text: drop link targets, images and markup characters, keep the words.
    visible = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", text)
    visible = re.sub(r"\]\([^)]*\)", "]", visible)
    visible = re.sub(r"^\s{0,3}(#{1,6}|>|[-*+]|\d+\.)\s+", "", visible, flags=re.M)
    visible = re.sub(r"[*_`\[\]|]+|^-{3,}$", " ", visible, flags=re.M)
    a.text = a.main_text = _collapse(visible)
    return a


def looks_like_captcha(body: bytes) -> bool:
    """Cheap check for error-status bodies (403/503 bot checks), before any retry."""
    if not body:
        return False
    try:
        a = analyze_html(body)
    except Exception:
        return False
    return classify_captcha(a) is not None


def classify_captcha(a: Analysis) -> str | None:
    if a.captcha_marker and len(a.text) < SHORT_TEXT:
        return a.captcha_marker
    if len(a.text) >= SHORT_TEXT:
        return None
    wording = CAPTCHA_TEXT.search(a.title) or CAPTCHA_TEXT.search(a.text)
    if wording:
        return f"bot-check wording in a short page: {wording.group(0)!r}"
    return None


def is_js_shell(a: Analysis) -> bool:
    return len(a.text) < TINY_TEXT and (a.scripts > 0 or a.empty_root)


def classify(a: Analysis, min_text_chars: int, *, html: bool) -> tuple[str, str] | None:
    """(reason, detail) when the page must not be kept as content, else None."""
    captcha = classify_captcha(a) if html else None
    if captcha:
        return "captcha", captcha
    if html and a.password_field and len(a.text) < SHORT_TEXT and LOGIN_TEXT.search(f"{a.title} {a.h1} {a.text}"):
        return "login_wall", "password form on a short page"
    if html and is_js_shell(a):
        why = "empty root element" if a.empty_root else f"{a.scripts} script(s)"
        return "js_shell", f"{len(a.text)} visible chars and {why}"
    heading = f"{a.title} | {a.h1}"
    if len(a.main_text) < NOT_FOUND_TEXT and (says := NOT_FOUND.search(heading)):
        return "soft_404", f"answered 200 but says {says.group(0)!r}"
    if len(a.main_text) < min_text_chars:
        return "empty", f"{len(a.main_text)} visible chars < min_text_chars {min_text_chars}"
    return None


def title_for(a: Analysis, url: str) -> str:
    if a.title:
        return a.title
    if a.h1:
        return a.h1
    return url.rstrip("/").rsplit("/", 1)[-1] or url
