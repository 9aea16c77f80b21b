"""The audio core: G.711 codecs, the live-path streaming resampler, PCM helpers."""
