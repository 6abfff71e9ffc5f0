"""The HTTP side of tactful: webhook endpoints (and, later, the dashboard), served by uvicorn."""
