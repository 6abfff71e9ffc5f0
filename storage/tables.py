"""Core `Table` handles for the SQLModel tables, for fast bulk statements."""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)

_tables = SQLModel.metadata.tables

accounts: Table = _tables["accounts"]
authors: Table = _tables["authors"]
threads: Table = _tables["threads"]
messages: Table = _tables["messages"]
verdicts: Table = _tables["verdicts"]
decisions: Table = _tables["decisions"]
outbox: Table = _tables["outbox"]
cursors: Table = _tables["listener_cursors"]
review_items: Table = _tables["review_items"]
audit_log: Table = _tables["audit_log"]
quarantine: Table = _tables["quarantine"]
policy_versions: Table = _tables["policy_versions"]
private_links: Table = _tables["private_links"]
human_labels: Table = _tables["human_labels"]
users: Table = _tables["users"]
web_sessions: Table = _tables["web_sessions"]
team_chat_posts: Table = _tables["team_chat_posts"]
team_chat_presses: Table = _tables["team_chat_presses"]
response_conversations: Table = _tables["response_conversations"]
badge_alerts: Table = _tables["badge_alerts"]
policy_replays: Table = _tables["policy_replays"]
promises: Table = _tables["promises"]
sla_alerts: Table = _tables["sla_alerts"]
leases: Table = _tables["leases"]
metrics_inbox: Table = _tables["metrics_inbox"]
send_budget: Table = _tables["send_budget"]
send_slots: Table = _tables["send_slots"]
