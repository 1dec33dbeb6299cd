"""nlpbook: the small, tested package that the nlpbook notebooks share.

Importing it has no side effects: no seeding, no downloads, no heavy imports.
Import the modules you need explicitly, e.g. ``from nlpbook import text, batching``.
"""

__version__ = "0.1.0"
