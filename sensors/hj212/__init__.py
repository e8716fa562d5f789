"""HJ 212 (2005/2017/2025) codec: pure, no I/O."""
