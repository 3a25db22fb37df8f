"""The HTTP layer: thin FastAPI routers over the service, OpenAI's envelope for every failure."""
