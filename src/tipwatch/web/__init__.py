"""The REST API (FastAPI): ``/api/v1``. Every endpoint calls a service; nothing else."""
