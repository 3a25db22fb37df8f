"""Between the service and the engines: bounded queues, cross-request batching, deadlines and
cancellation (`worker.py`), and the figures each worker keeps (`figures.py`)."""
