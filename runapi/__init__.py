"""runapi: a typed client for the Weights & Biases run API."""
