"""`gemini`: Google's Gemini API (AI Studio), and the Gemini translation `vertex` reuses.

- `request`: OpenAI chat requests to `GenerateContentRequest` bodies.
- `schema`: JSON Schema to Gemini's OpenAPI-subset `Schema`.
- `response`: whole answers, SSE streams, usage and `google.rpc` errors back to OpenAI.
- `adapter`: the call, shared by both adapters, which differ in URL and authentication.
"""

from .adapter import GeminiAdapter, GeminiProvider

__all__ = ["GeminiAdapter", "GeminiProvider"]
