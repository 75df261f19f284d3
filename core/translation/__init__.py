"""Building blocks for provider adapters that translate to and from the OpenAI format.

Each adapter keeps its own provider's mapping in its own module; what every translation
needs -- building OpenAI chunks, reading image parts, refusing or dropping parameters,
classifying provider errors -- lives here once.
"""

from .chunks import ChunkBuilder, chat_response, usage_dict
from .embeddings import embeddings_response, encode_vector, wants_base64
from .errors import classify_error, provider_error
from .images import ImageData, read_image_part
from .params import check_params

__all__ = [
    "ChunkBuilder",
    "ImageData",
    "chat_response",
    "check_params",
    "classify_error",
    "embeddings_response",
    "encode_vector",
    "provider_error",
    "read_image_part",
    "usage_dict",
    "wants_base64",
]
