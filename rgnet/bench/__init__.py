"""Benchmarks (GPU kernels against eager PyTorch and reference CUDA programs)."""
