"""TensorBoard callbacks: logging glue over the rg/ib/ising analyses (no physics here)."""
