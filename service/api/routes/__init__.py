"""One module per API surface (task endpoints, TF Serving, KServe V2, health)."""
