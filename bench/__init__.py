"""Darkroom's benchmarks: `python -m bench [NAME ...] [--quick]`. See bench/README.md."""
