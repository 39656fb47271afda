"""Source S3's conversational shopping recommendations: a product catalog, behaviour
events that update user preferences in real time, conversations with an assistant, and
hybrid recommendations (content 30 %, collaborative 30 %, LLM 40 %) cached under the
source's keys. The package's `router` serves the HTTP API."""

from inferline.apps.recsys.routes import router

__all__ = ["router"]
