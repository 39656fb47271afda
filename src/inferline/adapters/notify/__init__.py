"""Notifiers behind the notification port (`ports/notifications.py`): a Slack incoming
webhook, or none (notifications are off, and say so)."""
