"""Every sentence a user reads, as Jinja2 templates named by intent, and its rendering per platform.

Templates write a small Markdown subset (the *neutral markup*); renderers in
:mod:`messages.render` turn it into console text, Slack mrkdwn / Block Kit, or
Matrix HTML with a plain body.
"""
