"""Source S0's news analysis stream: feeds in, analysed articles out.

Feeds (RSS/Atom) are polled into the stream `news.raw`; a processor batches the
articles and fans each out to its analysers (sentiment, topics, keywords, an LLM
summary, the MiniLM embedding); the database stores the analysed articles. The
package's `router` serves the HTTP API.
"""

from inferline.apps.news.routes import router

__all__ = ["router"]
