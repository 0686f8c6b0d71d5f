"""aggregator: news feeds, alerts and provincial papers -> Markdown posts for a Jekyll site.

The public extraction API is `aggregator.extract(html, url, rules=None) -> Article`.
"""

from aggregator.extraction import extract
from aggregator.models import Article

__all__ = ["Article", "extract"]
__version__ = "0.1.0"
