"""A ``Page`` drawn as HTML: one inline stylesheet and one small inline script, nothing fetched.

The page reads without JavaScript: the script only shows a copy button beside each feed
address, which is selectable text anyway. A Content-Security-Policy allows exactly that
script (by its hash) and nothing else to run, so markup in a post's body cannot run any.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from html import escape

from .build import Item, Link, Page

# Colours are custom properties, light and dark, so a test can check each pair's contrast (WCAG AA).
STYLE = """
:root{color-scheme:light dark;--bg:#ffffff;--fg:#1a1a1a;--muted:#5c5c5c;--link:#0645ad;--surface:#f4f4f5;
  --border:#c8c8c8}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--fg:#e6e6e6;--muted:#a6adb4;--link:#8cb4ff;--surface:#1d2127;
  --border:#3a4049}}
*{box-sizing:border-box}[hidden]{display:none!important}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);
  font:1.0625rem/1.6 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;overflow-wrap:break-word}
header,main,footer{max-width:42rem;margin:0 auto;padding:0 1rem}
a{color:var(--link)}:focus-visible{outline:2px solid var(--link);outline-offset:2px}
header nav{display:flex;flex-wrap:wrap;gap:.2rem 1.2rem;padding:.8rem 0;border-bottom:1px solid var(--border)}
header nav a:first-child{font-weight:600;margin-right:auto}
h1{font-size:1.9rem;line-height:1.25;margin:1.5rem 0 .5rem}h2{font-size:1.3rem;margin:2rem 0 .6rem}
h3{font-size:1.15rem;line-height:1.35;margin:0 0 .25rem}
.subtitle{font-size:1.1rem;margin:.25rem 0}.byline,.meta{color:var(--muted)}.meta{font-size:.92rem;margin:.2rem 0}
.subscribe{background:var(--surface);border:1px solid var(--border);border-radius:.5rem;padding:0 1rem .6rem;
  margin:1.5rem 0}
.subscribe h2{margin-top:.8rem}.subscribe p{margin:.3rem 0}
.address{display:flex;flex-wrap:wrap;align-items:center;gap:.2rem .6rem;margin:.5rem 0}
.address a{min-width:6rem;font-weight:600}
.address code{flex:1 1 14rem;min-width:0;overflow-wrap:anywhere;font-size:.85rem;user-select:all}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
button{font:inherit;font-size:.85rem;color:var(--fg);background:var(--bg);border:1px solid var(--border);
  border-radius:.3rem;padding:.1rem .7rem;cursor:pointer}
.entry{padding:1rem 0;border-top:1px solid var(--border)}.summary{margin:.4rem 0}
.labels{list-style:none;display:flex;flex-wrap:wrap;gap:.3rem .9rem;padding:0;margin:.3rem 0;font-size:.92rem}
.pager{display:flex;flex-wrap:wrap;justify-content:space-between;gap:1rem;padding:1rem 0;
  border-top:1px solid var(--border)}
.body img,.body video,.body iframe{max-width:100%;height:auto}
.body pre{overflow-x:auto;background:var(--surface);padding:.75rem;border-radius:.3rem}.body table{display:block;
  overflow-x:auto}
footer{margin-top:2rem;padding-top:1rem;padding-bottom:1rem;border-top:1px solid var(--border);color:var(--muted);
  font-size:.92rem}
footer a{margin-right:1rem}
@media print{:root{--bg:#fff;--fg:#000;--muted:#333;--link:#000;--surface:#fff;--border:#999}
header nav,.subscribe,.pager,button{display:none}body{font-size:11pt}header,main,footer{max-width:none}
.entry h3 a::after{content:" <" attr(href) ">";font-size:.8em;font-weight:normal;overflow-wrap:anywhere}}
""".strip()

SCRIPT = ('for(const b of document.querySelectorAll("button[data-copy]")){if(!navigator.clipboard)break;'
          'b.hidden=false;b.addEventListener("click",()=>navigator.clipboard.writeText('
          'document.getElementById(b.dataset.copy).textContent).then(()=>{b.textContent="Copied"},'
          '()=>{b.textContent="Copy failed"}))}')


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


# The page's own script runs, no other; its style is inline, as may be a post's. A post's images,
# media and embedded frames come from wherever its author put them.
CSP = (f"default-src 'none'; script-src {_hash(SCRIPT)}; style-src 'unsafe-inline'; img-src * data:; "
       "media-src *; frame-src https:; base-uri 'none'; form-action 'none'")


def _e(text: str) -> str:
    return escape(text, quote=True)


def date_text(when: datetime) -> str:
    """A date as a page shows it, in the journal's time zone: ISO 8601, the same in every language."""
    return when.strftime("%Y-%m-%d")


def _time(when: datetime, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f'<time{attr} datetime="{when.isoformat()}">{date_text(when)}</time>'


def _link(link: Link, cls: str = "", rel: str = "") -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' rel="{rel}"' if rel else "")
    if not link.href:
        return f'<span{attrs} dir="auto">{_e(link.text)}</span>'
    return f'<a{attrs} dir="auto" href="{_e(link.href)}">{_e(link.text)}</a>'


def _labels(item: Item) -> list[str]:
    if not item.labels:
        return []
    return (['<ul class="labels" aria-label="Labels">']
            + [f"<li>{_link(label, 'label')}</li>" for label in item.labels] + ["</ul>"])


def _meta(item: Item, dates: bool = False) -> str:
    when = _time(item.published, "published")
    if dates and item.updated != item.published:
        when += f" · updated {_time(item.updated, 'updated')}"
    return f'<p class="meta">{when} · {_link(item.author, "author")}</p>'


def _entry(item: Item) -> list[str]:
    return (['<article class="entry">',
             f'<h3 dir="auto"><a href="{_e(item.link)}">{_e(item.title)}</a></h3>', _meta(item)]
            + ([f'<p class="summary" dir="auto">{_e(item.summary)}</p>'] if item.summary else [])
            + _labels(item) + ["</article>"])


def _subscribe(page: Page) -> list[str]:
    out = ['<section class="subscribe" aria-labelledby="subscribe">', '<h2 id="subscribe">Subscribe</h2>',
           "<p>Copy an address into your feed reader.</p>"]
    for alt in page.subscribe:
        key = f"feed-{alt.format}"
        out.append(f'<div class="address"><a href="{_e(alt.href)}" type="{alt.media_type}">{alt.format_name}</a> '
                   f'<code id="{key}">{_e(alt.href)}</code> <button type="button" data-copy="{key}" '
                   f'aria-label="Copy the {alt.format_name} address" hidden>Copy</button></div>')
    return out + ["</section>"]


def _main(page: Page) -> list[str]:
    heading = [f'<h1 dir="auto">{_e(page.heading)}</h1>']
    if page.subtitle:
        heading.append(f'<p class="subtitle" dir="auto">{_e(page.subtitle)}</p>')
    if page.byline:
        heading.append(f'<p class="byline" dir="auto">{_e(page.byline)}</p>')
    if page.kind == "post" and page.post:
        return (['<article class="post">'] + heading + [_meta(page.post, dates=True)] + _labels(page.post)
                + [f'<div class="body" dir="auto">{page.body}</div>', "</article>"])
    if page.kind == "gone":
        gone = f" on {_time(page.gone, 'gone')}" if page.gone else ""
        return heading + [f'<p class="notice">This post was removed{gone}. '
                          f"It is no longer part of the journal.</p>"]
    out = heading + (_subscribe(page) if page.subscribe else [])
    out += ['<section class="posts" aria-labelledby="posts">', '<h2 id="posts">Posts</h2>']
    out += [line for item in page.items for line in _entry(item)] or ["<p>No posts yet.</p>"]
    out.append("</section>")
    if page.pager:
        out += (['<nav class="pager" aria-label="More posts">']
                + [_link(link, rel=rel) for rel, link in page.pager] + ["</nav>"])
    return out


def render(page: Page) -> bytes:
    """The page's HTML, UTF-8: the same ``Page`` gives the same bytes."""
    head = ["<!DOCTYPE html>", f'<html lang="{_e(page.language)}">', "<head>", '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{_e(CSP)}">',
            '<meta name="color-scheme" content="light dark">']
    if page.noindex:
        head.append('<meta name="robots" content="noindex">')
    head.append(f"<title>{_e(page.title)}</title>")
    if page.canonical:
        head.append(f'<link rel="canonical" href="{_e(page.canonical)}">')
    head += [f'<link rel="alternate" type="{alt.media_type}" title="{_e(alt.title)}" href="{_e(alt.href)}">'
             for alt in page.alternates]
    nav = " ".join(_link(link) for link in page.nav)
    body = (["</head>", "<body>", "<header>", f'<nav aria-label="Journal">{nav}</nav>', "</header>", "<main>"]
            + _main(page) + ["</main>", f"<footer>{nav}</footer>"]
            + ([f"<script>{SCRIPT}</script>"] if page.subscribe else []) + ["</body>", "</html>", ""])
    return "\n".join(head + [f"<style>{STYLE}</style>"] + body).encode("utf-8")
