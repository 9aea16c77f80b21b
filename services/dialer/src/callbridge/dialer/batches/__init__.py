"""The outbound call scheduler in the dialer process: the engine from ``callbridge.common.scheduler`` with
calls placed through the call factory (placer.py) and wired to NATS (service.py)."""
