"""Information bottleneck: exact discrete IB, the Ising-cylinder relevance problem, Gaussian IB, MI estimators."""
