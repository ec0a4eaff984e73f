"""Wire formats of other serving protocols (TF Serving REST, KServe V2): parse and encode."""
