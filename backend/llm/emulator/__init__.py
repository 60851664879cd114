"""A protocol-faithful, stdlib-only LLM emulator: Amazon Bedrock Runtime, Anthropic, OpenAI.

Real boto3/aiobotocore clients talk to it over HTTP through ``endpoint_url``:
Converse, ConverseStream (binary event stream, one chunk per frame) and
CountTokens, with Bedrock's validation, error format and cache accounting.
The official ``anthropic`` and ``openai`` SDKs talk to it through their base
URL: the Messages API (``anthropic_messages``) and Chat Completions
(``openai_chat``), answered by the same pipeline.
Replies are canned and deterministic; directives in the last user message
(``[[emu:...]]``, see ``directives``) and the ``/_emulator/`` control API
(see ``control``) script lengths, timing and faults.

It imports nothing from Django or the rest of the project.
"""

from backend.llm.emulator.accounting import estimate_tokens
from backend.llm.emulator.replies import default_reply_tokens
from backend.llm.emulator.server import EmulatorServer

__all__ = ["EmulatorServer", "default_reply_tokens", "estimate_tokens"]
