<?xml version="1.0" encoding="UTF-8"?>
<!-- newswire: shows an Atom or RSS document as a readable page in a browser. -->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:atom="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:schema="http://schema.org/"
    exclude-result-prefixes="atom dc schema">
  <xsl:output method="html" encoding="UTF-8" indent="yes" doctype-system="about:legacy-compat"/>

  <xsl:template match="/">
    <xsl:variable name="title" select="atom:feed/atom:title | rss/channel/title"/>
    <xsl:variable name="subtitle" select="atom:feed/atom:subtitle | rss/channel/description"/>
    <xsl:variable name="self" select="atom:feed/atom:link[@rel='self']/@href | rss/channel/atom:link[@rel='self']/@href"/>
    <xsl:variable name="lang" select="atom:feed/@xml:lang | rss/channel/language"/>
    <html>
      <xsl:if test="normalize-space($lang)"><xsl:attribute name="lang"><xsl:value-of select="normalize-space($lang)"/></xsl:attribute></xsl:if>
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title><xsl:value-of select="$title"/></title>
        <style>
          body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:46rem;padding:1rem;color:#1c1c1c}
          header{border-bottom:1px solid #ddd;padding-bottom:.8rem;margin-bottom:1rem}
          h1{margin:.2rem 0;font-size:1.6rem}.sub{color:#555;margin:.2rem 0 .8rem}
          .subscribe{background:#f3f6fa;border:1px solid #d8e0ea;border-radius:6px;padding:.6rem .8rem}
          .subscribe input{width:100%;box-sizing:border-box;font:inherit;font-size:.85rem;padding:.25rem .4rem;margin-top:.3rem}
          article{padding:.9rem 0;border-bottom:1px solid #eee}article h2{font-size:1.15rem;margin:0 0 .2rem}
          .meta{color:#555;font-size:.88rem}.labels span{display:inline-block;background:#eef1f4;border-radius:3px;padding:0 .4rem;margin:.2rem .3rem 0 0;font-size:.8rem}
          nav.paging{margin-top:1rem}nav.paging a{margin-right:1rem}
          @media (prefers-color-scheme:dark){body{background:#161616;color:#eee}.sub,.meta{color:#aaa}.subscribe{background:#1f2730;border-color:#33414f}.labels span{background:#2a2f35}article{border-color:#333}}
        </style>
      </head>
      <body>
        <header>
          <h1 id="feed-title"><xsl:value-of select="$title"/></h1>
          <p class="sub"><xsl:value-of select="$subtitle"/></p>
          <div class="subscribe">
            <strong>This is a web feed.</strong> Copy its address into your feed reader to subscribe:
            <input readonly="readonly" onfocus="this.select()" aria-label="Feed address" value="{$self}"/>
          </div>
        </header>
        <main>
          <xsl:apply-templates select="atom:feed/atom:entry | rss/channel/item"/>
        </main>
        <nav class="paging">
          <xsl:for-each select="atom:feed/atom:link[@rel='prev-archive' or @rel='next-archive' or @rel='current'] | rss/channel/atom:link[@rel='prev-archive' or @rel='next-archive' or @rel='current']">
            <a href="{@href}">
              <xsl:choose>
                <xsl:when test="@rel='prev-archive'">Older posts</xsl:when>
                <xsl:when test="@rel='next-archive'">Newer posts</xsl:when>
                <xsl:otherwise>Newest posts</xsl:otherwise>
              </xsl:choose>
            </a>
          </xsl:for-each>
        </nav>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="atom:entry">
    <article>
      <h2 class="entry-title"><a href="{atom:link[not(@rel) or @rel='alternate']/@href}"><xsl:value-of select="atom:title"/></a></h2>
      <div class="meta">
        <time datetime="{atom:published}"><xsl:value-of select="substring(atom:published, 1, 10)"/></time>
        <xsl:text> · </xsl:text><xsl:value-of select="atom:author/atom:name"/>
        <xsl:if test="atom:author/schema:affiliation">, <xsl:value-of select="atom:author/schema:affiliation"/></xsl:if>
      </div>
      <p><xsl:value-of select="atom:summary"/></p>
      <div class="labels"><xsl:for-each select="atom:category"><span><xsl:value-of select="@term"/></span></xsl:for-each></div>
    </article>
  </xsl:template>

  <xsl:template match="item">
    <article>
      <h2 class="entry-title"><a href="{link}"><xsl:value-of select="title"/></a></h2>
      <div class="meta">
        <xsl:variable name="date"><xsl:call-template name="rfc822-date"><xsl:with-param name="date" select="pubDate"/></xsl:call-template></xsl:variable>
        <time datetime="{$date}"><xsl:value-of select="$date"/></time>
        <xsl:text> · </xsl:text><xsl:value-of select="dc:creator"/>
        <xsl:if test="schema:affiliation">, <xsl:value-of select="schema:affiliation"/></xsl:if>
      </div>
      <p><xsl:call-template name="html-text"><xsl:with-param name="html" select="description"/></xsl:call-template></p>
      <div class="labels"><xsl:for-each select="category"><span><xsl:value-of select="."/></span></xsl:for-each></div>
    </article>
  </xsl:template>

  <!-- An RFC 822 date ("Fri, 06 Nov 2009 10:30:00 -0500") as the Atom view shows one: the
       calendar date in the date's own zone, YYYY-MM-DD. -->
  <xsl:template name="rfc822-date">
    <xsl:param name="date"/>
    <xsl:variable name="d">
      <xsl:choose>
        <xsl:when test="contains($date, ',')"><xsl:value-of select="normalize-space(substring-after($date, ','))"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="normalize-space($date)"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="day" select="substring-before($d, ' ')"/>
    <xsl:variable name="rest" select="substring-after($d, ' ')"/>
    <xsl:variable name="month" select="substring-before($rest, ' ')"/>
    <xsl:variable name="year" select="substring-before(concat(substring-after($rest, ' '), ' '), ' ')"/>
    <xsl:value-of select="concat($year, '-',
        format-number(string-length(substring-before('JanFebMarAprMayJunJulAugSepOctNovDec', $month)) div 3 + 1, '00'),
        '-', format-number($day, '00'))"/>
  </xsl:template>

  <!-- An RSS description is HTML: newswire writes the plain-text summary there escaped as HTML
       (&amp; &lt; &gt; only), so decoding those three shows the summary as it was written. -->
  <xsl:template name="html-text">
    <xsl:param name="html"/>
    <xsl:choose>
      <xsl:when test="contains($html, '&amp;')">
        <xsl:variable name="rest" select="substring-after($html, '&amp;')"/>
        <xsl:variable name="name" select="substring-before($rest, ';')"/>
        <xsl:value-of select="substring-before($html, '&amp;')"/>
        <xsl:choose>
          <xsl:when test="$name = 'lt'">&lt;</xsl:when>
          <xsl:when test="$name = 'gt'">&gt;</xsl:when>
          <xsl:otherwise>&amp;</xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="html-text">
          <xsl:with-param name="html">
            <xsl:choose>
              <xsl:when test="$name = 'lt' or $name = 'gt' or $name = 'amp'">
                <xsl:value-of select="substring-after($rest, ';')"/>
              </xsl:when>
              <xsl:otherwise><xsl:value-of select="$rest"/></xsl:otherwise>
            </xsl:choose>
          </xsl:with-param>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$html"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>
</xsl:stylesheet>
