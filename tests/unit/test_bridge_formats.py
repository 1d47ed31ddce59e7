"""What people write on one side shows the same on the other: the formatting table."""

from __future__ import annotations

import pytest

from handlers.core.events import Reply
from messages.parse.matrix import from_html, from_plain
from messages.parse.slack import from_blocks, from_mrkdwn
from messages.render.matrix import to_html
from messages.render.relay import human_size, matrix_content
from messages.render.slack import to_mrkdwn

SLACK_TO_MATRIX = [
    ("*gras*", "<strong>gras</strong>"),
    ("_italique_", "<em>italique</em>"),
    ("~barré~", "<s>barré</s>"),
    ("`x < 2`", "<code>x &lt; 2</code>"),
    ("```\nif a &lt; b:\n    pass\n```", "<pre><code>if a &lt; b:\n    pass\n</code></pre>"),
    ("<https://ex.org/a?b=1|le lien>", '<a href="https://ex.org/a?b=1">le lien</a>'),
    ("<https://ex.org>", '<a href="https://ex.org">https://ex.org</a>'),
    ("• un\n• deux", "<ul>\n<li>un</li>\n<li>deux</li>\n</ul>"),
    ("1. un\n2. deux", "<ol>\n<li>un</li>\n<li>deux</li>\n</ol>"),
    ("&gt; cité", "<blockquote>\n<p>cité</p>\n</blockquote>"),
    (":tada: :+1: :partyparrot:", "🎉 👍 :partyparrot:"),
    ("ligne 1\nligne 2", "ligne 1<br />\nligne 2"),
    ("2*3*4 et snake_case_name", "2*3*4 et snake_case_name"),
    ("&lt;b&gt; &amp; co", "&lt;b&gt; &amp; co"),
    ("<@U3> et <!here>", "<strong>U3</strong> et <strong>@here</strong>"),
]


@pytest.mark.parametrize("mrkdwn, html", SLACK_TO_MATRIX)
def test_slack_mrkdwn_shows_the_same_on_matrix(mrkdwn: str, html: str) -> None:
    rendered = to_html(from_mrkdwn(mrkdwn))
    assert html in rendered, rendered


MATRIX_TO_SLACK = [
    ("<strong>gras</strong> <b>aussi</b>", "*gras* *aussi*"),
    ("<em>it</em> <i>aussi</i>", "_it_ _aussi_"),
    ("<del>barré</del> <s>aussi</s>", "~barré~ ~aussi~"),
    ("<code>a&lt;b</code>", "`a&lt;b`"),
    ('<pre><code class="language-python">x = 1\n</code></pre>', "```\nx = 1\n```"),
    ('<a href="https://ex.org">lien</a>', "<https://ex.org|lien>"),
    ("<ul><li>un</li><li>deux</li></ul>", "• un\n• deux"),
    ('<ol start="3"><li>trois</li></ol>', "3. trois"),
    ("<blockquote>cité</blockquote>", "> cité"),
    ("a<br>b", "a\nb"),
    ("<h2>Titre</h2>suite", "*Titre*\n\nsuite"),
    ("<mx-reply><blockquote>vieux</blockquote></mx-reply>réponse", "réponse"),
    ('<a href="https://matrix.to/#/@zoe:localhost">Zoé</a> 🎉', "*Zoé* 🎉"),
    ('<span data-mx-spoiler="">secret</span> <font color="red">rouge</font>', "secret rouge"),
]


@pytest.mark.parametrize("html, mrkdwn", MATRIX_TO_SLACK)
def test_matrix_html_shows_the_same_on_slack(html: str, mrkdwn: str) -> None:
    assert to_mrkdwn(from_html(html)) == mrkdwn


def test_slack_rich_text_blocks_are_read_as_a_tree() -> None:
    blocks = [{"type": "rich_text", "elements": [
        {"type": "rich_text_section", "elements": [
            {"type": "text", "text": "Hé ", "style": {"italic": True}},
            {"type": "text", "text": "*pas gras*"},
            {"type": "emoji", "name": "wave", "unicode": "1f44b"},
            {"type": "link", "url": "https://ex.org", "text": "ici", "style": {"bold": True}},
            {"type": "broadcast", "range": "channel"}]},
        {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "a\nb"}]},
        {"type": "rich_text_quote", "elements": [{"type": "text", "text": "cité"}]}]}]
    html = to_html(from_blocks(blocks) or "")
    assert "<em>Hé</em> *pas gras*👋<strong><a href=\"https://ex.org\">ici</a></strong>" in html
    assert "<pre><code>a\nb\n</code></pre>" in html and "<blockquote>" in html
    assert from_blocks([{"type": "section"}]) is None


def test_plain_matrix_bodies_stay_literal() -> None:
    assert to_mrkdwn(from_plain("a < b\n\n- pas une liste")) == "a &lt; b\n\n- pas une liste"


def test_the_matrix_copy_names_its_author_first() -> None:
    content = matrix_content(Reply("**Bonjour**\n\n- a"), {"sender": {"name": "Zoé <Z>"},
                                                          "source": {"platform": "slack"}})
    assert content["msgtype"] == "m.text"
    assert content["formatted_body"].startswith("<p><strong>Zoé &lt;Z&gt;</strong>\u00a0: "
                                                "<strong>Bonjour</strong>")
    assert content["body"].startswith("Zoé <Z>\u00a0: Bonjour")
    assert content["fr.cohortbot.relay"] == {"from": "slack"}


def test_sizes_read_as_people_say_them() -> None:
    assert human_size(30 * 1024 * 1024, "fr") == "30,0\u00a0Mo"
    assert human_size(512, "en") == "512\u00a0B"
