"""Chat models behind the LLM port (`ports/llm.py`): a model Inferline serves, any
OpenAI-compatible endpoint, or none (every call says why)."""
