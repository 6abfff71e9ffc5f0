"""tactful: watches a brand's social channels and answers first, tactfully."""

__version__ = "0.1.0"
