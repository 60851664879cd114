"""Provider-neutral LLM layer: types, model registry with fallback chains, provider adapters, usage ledger.

Apps call `backend.llm.service` (complete / stream, sync and async) with an `LLMRequest`
that names a model alias; they never import boto3 or another model SDK. The providers are
Amazon Bedrock, the Anthropic API and OpenAI-compatible servers. See docs/llm.md.
"""
