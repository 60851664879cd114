"""The streaming engine: one lifecycle for every answer the product streams.

- `engine`: admission, the run on the event loop, stop, checkpoints, the sweeper, shutdown;
- `log`: the per-generation event logs (in-process, mirrored to Redis);
- `replay`: a generation's events for a client, live or from its stored record;
- `http`: async views' glue (authentication, error shape, SSE responses);
- `schema`: OpenAPI documentation of event streams;
- `models`: the abstract generation record and the Idempotency-Keys;
- `workers`: which processes are alive.

An app streams by writing an `engine.Adapter` and calling `engine.Engine(adapter)`; see
docs/streaming.md.
"""
