"""The HTTP face of autohub: FastAPI on uvicorn (``autohub serve``)."""
