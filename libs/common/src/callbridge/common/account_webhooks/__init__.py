"""Account webhooks (Ultravox's ``/api/webhooks``): who is told of which call events, signed as Ultravox
signs them, delivered at least once, in order per call, by any number of replicas (delivery.py)."""
