"""Provider-neutral LLM layer: types, model registry with fallback chains, Bedrock adapter, usage ledger.

Apps call `backend.llm.service` (complete / stream, sync and async) with an `LLMRequest`
that names a model alias; they never import boto3. See docs/llm.md.
"""
