"""Scoring and classification of messages: sentiment, toxicity, intent, heat, language."""
