"""The same reply, as each platform shows it."""

from handlers.core.events import Action, Reply
from messages.markup import Person, escape, mention
from messages.render.matrix import to_content, to_html
from messages.render.plain import reply_to_plain, to_plain
from messages.render.slack import fallback_text, to_blocks, to_mrkdwn

ZOE = Person("Zoé Durand", {"slack": "U1", "matrix": "@zoe:localhost"})
LEA = Person("Léa")


def test_formatting_table() -> None:
    text = "**gras** _italique_ ~~barré~~ `code` [lien](https://ex.org)"
    assert to_mrkdwn(text) == "*gras* _italique_ ~barré~ `code` <https://ex.org|lien>"
    assert to_html(text) == ('<p><strong>gras</strong> <em>italique</em> <s>barré</s> '
                             '<code>code</code> <a href="https://ex.org">lien</a></p>')
    assert to_plain(text) == "gras italique barré code lien (https://ex.org)"


def test_user_text_is_escaped_not_interpreted() -> None:
    name = "*Zoé* <script>alert(1)</script> [x](javascript:alert(1))"
    text = f"Bonjour {escape(name)}"
    assert "<script>" not in to_html(text)
    assert "&lt;script&gt;" in to_html(text)
    assert "href" not in to_html(text)
    assert to_plain(text) == f"Bonjour {name}"
    assert "&lt;script&gt;" in to_mrkdwn(text)


def test_mentions_become_native_per_platform() -> None:
    text = f"Merci {mention(ZOE)} et {mention(LEA)}"
    assert to_mrkdwn(text) == "Merci <@U1> et *Léa*"
    html = to_html(text)
    assert '<a href="https://matrix.to/#/@zoe:localhost">Zoé Durand</a>' in html
    assert "<strong>Léa</strong>" in html
    content = to_content(Reply(text))
    assert content["m.mentions"] == {"user_ids": ["@zoe:localhost"]}
    assert content["body"] == "Merci Zoé Durand et Léa"
    assert content["msgtype"] == "m.notice"
    assert to_plain(text) == "Merci @Zoé Durand et @Léa"


def test_lists_quotes_and_code_blocks() -> None:
    text = "Titre\n\n- un\n- deux\n\n1. a\n2. b\n\n> cité\n\n```\nx < y\n```"
    assert to_plain(text) == "Titre\n\n• un\n• deux\n\n1. a\n2. b\n\n> cité\n\nx < y"
    assert "• un\n• deux" in to_mrkdwn(text)
    assert "```\nx &lt; y\n```" in to_mrkdwn(text)
    assert "<ol>" in to_html(text) and "<blockquote>" in to_html(text)


def test_block_kit_respects_slack_limits() -> None:
    long = "\n\n".join("ligne " + "x" * 90 for _ in range(100))
    actions = tuple(Action(f"Option {i}" + "y" * 80, "poll.vote", str(i)) for i in range(30))
    blocks = to_blocks(Reply("# " + "T" * 200 + "\n\n" + long, actions=actions))
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) >= 2 and all(len(b["text"]["text"]) <= 3000 for b in sections)
    action_blocks = [b for b in blocks if b["type"] == "actions"]
    assert [len(b["elements"]) for b in action_blocks] == [25, 5]
    assert all(len(e["text"]["text"]) <= 75 for b in action_blocks for e in b["elements"])
    assert len({e["action_id"] for b in action_blocks for e in b["elements"]}) == 30
    assert len(blocks) <= 50


def test_buttons_become_commands_where_there_are_no_buttons() -> None:
    reply = Reply("Votez", actions=(Action("Oui", "poll.vote", "1:oui",
                                           command="sondage voter 1 oui"),))
    assert "[Oui] !cohorte sondage voter 1 oui" in reply_to_plain(reply, "!cohorte ")
    assert "!cohorte sondage voter 1 oui" in to_content(reply)["body"]
    assert fallback_text(reply) == "Votez"
