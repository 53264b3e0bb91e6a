"""Pages for people: each feed's page, each post's page, the home page and a deleted post's page,
as HTML that needs no XSLT and no JavaScript to read.

Pages are renderings like the feeds: a ``Page`` says what a page means (built from the model by
``feed_page``, ``home_page``, ``post_page`` and ``gone_page``), ``render`` turns it into bytes with
no disk and no clock, and ``read_back`` parses those bytes again (html5lib, strict) and lists every
difference from the ``Page``, so a page is verified before it is published, like every document.
"""

from __future__ import annotations

from ..model import JOURNAL_PAGE, PAGE_NAME
from .build import (
    HOME_PAGE,
    Alternate,
    Item,
    Link,
    Links,
    Page,
    feed_page,
    gone_page,
    home_page,
    page_path,
    post_page,
    post_path,
)
from .html import render
from .readback import read_back

__all__ = ["HOME_PAGE", "JOURNAL_PAGE", "PAGE_NAME", "Alternate", "Item", "Link", "Links", "Page", "feed_page",
           "gone_page", "home_page", "page_path", "post_page", "post_path", "read_back", "render"]
